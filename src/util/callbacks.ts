/** Calls a user callback; a throw or a rejected promise goes to `onError`, never up the stack. */
export function callSafely(callback: () => unknown, onError: (error: unknown) => void): void {
  try {
    const result = callback();
    if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, onError);
    }
  } catch (error) {
    onError(error);
  }
}
