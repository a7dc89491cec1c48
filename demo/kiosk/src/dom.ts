/** Finds the panel's elements by their `data-test` hooks (listed in demo/kiosk/README.md). */

export function byTest<T extends Element = HTMLElement>(name: string, root: ParentNode = document): T {
  const element = root.querySelector<T & Element>(`[data-test="${name}"]`);
  if (element === null) throw new Error(`The kiosk page has no [data-test="${name}"] element`);
  return element;
}

/** Sets text (never HTML) only when it changed, so that the DOM is not rewritten every second. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

/** The message of anything thrown, with the SDK's error code in front when it has one. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

/** A new element with a class, a `data-test` hook and text (never HTML), and children. */
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { className?: string; test?: string; text?: string },
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const created = document.createElement(tag);
  if (options.className !== undefined) created.className = options.className;
  if (options.test !== undefined) created.dataset.test = options.test;
  if (options.text !== undefined) created.textContent = options.text;
  created.append(...children);
  return created;
}
