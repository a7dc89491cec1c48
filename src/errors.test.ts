import { describe, expect, it } from 'vitest';
import {
  abortedError,
  invalidArgument,
  isSpotflowError,
  SPOTFLOW_ERROR_CODES,
  SpotflowError,
} from './errors.js';

describe('SpotflowError', () => {
  it('carries a code, a message, a name and the standard cause', () => {
    const cause = new Error('socket hang up');
    const error = new SpotflowError('NETWORK', 'The hub is unreachable', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('NETWORK');
    expect(error.message).toBe('The hub is unreachable');
    expect(error.name).toBe('SpotflowError');
    expect(error.cause).toBe(cause);
    expect(String(error)).toBe('SpotflowError: The hub is unreachable');
    expect(error.stack).toContain('SpotflowError');
  });

  it('has no cause property when none is given', () => {
    const error = new SpotflowError('INTERNAL', 'oops');
    expect('cause' in error).toBe(false);
  });

  it('keeps an explicitly undefined cause', () => {
    const error = new SpotflowError('INTERNAL', 'oops', { cause: undefined });
    expect('cause' in error).toBe(true);
  });

  it('shows only message and code when serialised (the brand and name are not own enumerable fields)', () => {
    const error = new SpotflowError('TIMEOUT', 'too slow');
    expect(Object.keys(error)).toEqual(['code']);
    expect(Object.getOwnPropertySymbols(error)).toEqual([]);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'TIMEOUT' });
  });

  it('lists every code once, in a frozen list', () => {
    expect(Object.isFrozen(SPOTFLOW_ERROR_CODES)).toBe(true);
    expect(new Set(SPOTFLOW_ERROR_CODES).size).toBe(SPOTFLOW_ERROR_CODES.length);
    // Codes are part of the API: stable upper-case identifiers that a caller can `switch` on.
    for (const code of SPOTFLOW_ERROR_CODES) expect(code).toMatch(/^[A-Z][A-Z_]*[A-Z]$/);
  });
});

describe('isSpotflowError', () => {
  it('recognises SpotflowErrors, with or without a code', () => {
    const error = new SpotflowError('OUTBOX_FULL', 'full');
    expect(isSpotflowError(error)).toBe(true);
    expect(isSpotflowError(error, 'OUTBOX_FULL')).toBe(true);
    expect(isSpotflowError(error, 'NETWORK')).toBe(false);
  });

  it('rejects other values, including look-alikes without the brand', () => {
    for (const value of [
      undefined,
      null,
      0,
      'SpotflowError',
      new Error('x'),
      { code: 'NETWORK', name: 'SpotflowError', message: 'fake' },
    ]) {
      expect(isSpotflowError(value)).toBe(false);
    }
  });

  it('recognises errors from another copy of the package (a different class, the same global brand)', () => {
    // What a second bundled copy would construct: its own class, branded with the registry symbol.
    class OtherCopyError extends Error {
      readonly code = 'DATABASE_LOCKED';
    }
    Object.defineProperty(OtherCopyError.prototype, Symbol.for('spotflow-device.SpotflowError'), {
      value: true,
    });
    const foreign = new OtherCopyError('locked by another tab');
    expect(foreign instanceof SpotflowError).toBe(false);
    expect(isSpotflowError(foreign)).toBe(true);
    expect(isSpotflowError(foreign, 'DATABASE_LOCKED')).toBe(true);
    expect(isSpotflowError(foreign, 'ABORTED')).toBe(false);
  });

  it('narrows the code in TypeScript', () => {
    const error: unknown = new SpotflowError('ABORTED', 'stop');
    if (isSpotflowError(error, 'ABORTED')) {
      const code: 'ABORTED' = error.code;
      expect(code).toBe('ABORTED');
    } else {
      expect.unreachable();
    }
  });
});

describe('invalidArgument', () => {
  it('makes an INVALID_ARGUMENT error', () => {
    const error = invalidArgument('batchId must not be empty');
    expect(isSpotflowError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(error.message).toBe('batchId must not be empty');
  });
});

describe('abortedError', () => {
  it('is ABORTED without a signal', () => {
    const error = abortedError();
    expect(error.code).toBe('ABORTED');
    expect('cause' in error).toBe(false);
  });

  it('returns the reason itself when it is a SpotflowError', () => {
    const controller = new AbortController();
    const reason = new SpotflowError('CLIENT_CLOSED', 'closed');
    controller.abort(reason);
    expect(abortedError(controller.signal)).toBe(reason);
  });

  it('wraps other reasons as the cause of an ABORTED error', () => {
    const controller = new AbortController();
    controller.abort();
    const error = abortedError(controller.signal);
    expect(error.code).toBe('ABORTED');
    expect(error.cause).toBe(controller.signal.reason);

    const custom = new AbortController();
    custom.abort('user pressed stop');
    expect(abortedError(custom.signal).cause).toBe('user pressed stop');
  });

  it('turns AbortSignal.timeout() into TIMEOUT', async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    const error = abortedError(signal);
    expect(error.code).toBe('TIMEOUT');
    expect(error.cause).toBe(signal.reason);
  });
});
