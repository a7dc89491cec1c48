import { describe, expect, it } from 'vitest';
import type { SqlStatement } from '../../src/ports.js';
import { decodeStatements, encodeStatements } from './statement-codec.js';

describe('statement codec', () => {
  it('gives back every kind of value exactly', () => {
    const statements: SqlStatement[] = [
      { sql: 'BEGIN' },
      {
        sql: 'INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        params: [
          null,
          0,
          -1.5,
          Number.MAX_SAFE_INTEGER,
          2n ** 63n - 1n,
          -(2n ** 63n),
          'ünïcödé 🙂',
          new Uint8Array([0, 255, 1, 128]),
        ],
      },
      { sql: 'SELECT ?', params: [''] },
      { sql: 'x'.repeat(70_000), params: [new Uint8Array(300_000).fill(7)] },
    ];
    const decoded = decodeStatements(encodeStatements(statements));
    expect(decoded).toEqual(statements);
    expect(decoded[1]!.params![7]).toBeInstanceOf(Uint8Array);
    expect(
      Object.is(decodeStatements(encodeStatements([{ sql: '?', params: [-0] }]))[0]!.params![0], -0),
    ).toBe(true);
  });

  it('an empty group', () => {
    expect(decodeStatements(encodeStatements([]))).toEqual([]);
  });

  it('refuses bytes it did not write, with a RangeError', () => {
    const bytes = encodeStatements([{ sql: 'SELECT ?', params: ['abc'] }]);
    expect(() => decodeStatements(bytes.subarray(0, bytes.length - 1))).toThrow(RangeError);
    expect(() => decodeStatements(new Uint8Array([...bytes, 0]))).toThrow(RangeError);
    const badTag = bytes.slice();
    badTag[badTag.length - 5] = 9;
    expect(() => decodeStatements(badTag)).toThrow(RangeError);
  });

  it('refuses a value that is not a SQL value, at encoding', () => {
    expect(() => encodeStatements([{ sql: '?', params: [{} as never] }])).toThrow(TypeError);
  });
});
