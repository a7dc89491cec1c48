import { describe, expect, it } from 'vitest';
import { isSpotflowError, type SpotflowErrorCode } from '../errors.js';
import {
  encodePropertyBag,
  MAX_PROPERTY_VALUE_LENGTH,
  type MessageProperties,
  PROPERTY_BAG_KEYS,
  parsePropertyBag,
  TelemetryTopics,
  telemetryTopic,
  validatePropertyValue,
} from './property-bag.js';

function expectCode(action: () => unknown, code: SpotflowErrorCode): void {
  try {
    action();
  } catch (error) {
    expect(isSpotflowError(error, code)).toBe(true);
    return;
  }
  expect.unreachable(`expected a ${code} error`);
}

describe('encodePropertyBag', () => {
  it('is empty for no properties', () => {
    expect(encodePropertyBag({})).toBe('');
  });

  it('writes every property with its bag key, in the documented order, whatever the input order', () => {
    const properties: MessageProperties = {
      mid: 'e0f3a1c2-0000-4000-8000-000000000001',
      ignorePayload: true,
      completeMessage: true,
      completeBatch: true,
      externalized: true,
      contentEncoding: 'br',
      chunkId: 'c',
      messageId: 'm',
      batchSliceId: 'bs',
      batchId: 'b',
      siteId: 'site',
      stream: 's',
      streamGroup: 'g',
    };
    expect(encodePropertyBag(properties)).toBe(
      'stream-group-name=g&stream-name=s&site-id=site&batch-id=b&batch-slice-id=bs&message-id=m&chunk-id=c' +
        '&content-encoding=br&has-externalized-payload=true&complete-batch=true&complete-message=true' +
        '&ignore-payload=true&$.mid=e0f3a1c2-0000-4000-8000-000000000001',
    );
  });

  it('leaves out undefined and false properties', () => {
    expect(
      encodePropertyBag({ stream: undefined, batchId: 'b1', completeBatch: false, externalized: undefined }),
    ).toBe('batch-id=b1');
  });

  it('percent-encodes values, including the characters that mean something in topics and bags', () => {
    expect(encodePropertyBag({ stream: 'a/b+c#d&e=f g%h', siteId: 'Plzeň ☃' })).toBe(
      'stream-name=a%2Fb%2Bc%23d%26e%3Df%20g%25h&site-id=Plze%C5%88%20%E2%98%83',
    );
  });

  it('round-trips through parsePropertyBag', () => {
    const properties: MessageProperties = { streamGroup: 'g&=', stream: '日本', batchId: '%41', mid: 'x y' };
    expect(parsePropertyBag(encodePropertyBag(properties))).toEqual({
      'stream-group-name': 'g&=',
      'stream-name': '日本',
      'batch-id': '%41',
      '$.mid': 'x y',
    });
  });

  it('has a key for every MessageProperties field', () => {
    expect(Object.values(PROPERTY_BAG_KEYS)).toHaveLength(13);
    expect(Object.isFrozen(PROPERTY_BAG_KEYS)).toBe(true);
  });
});

describe('telemetryTopic', () => {
  it('puts the bag after devices/{hubDeviceId}/messages/events/', () => {
    expect(telemetryTopic('ws-1:dev-1', { stream: 's', mid: 'id-1' })).toBe(
      'devices/ws-1:dev-1/messages/events/stream-name=s&$.mid=id-1',
    );
  });

  it('ends with a slash when there are no properties', () => {
    expect(telemetryTopic('ws:d', {})).toBe('devices/ws:d/messages/events/');
  });
});

describe('TelemetryTopics', () => {
  const sets: MessageProperties[] = [
    {},
    { stream: 'bench' },
    { streamGroup: 'g', stream: 'a/b&c', batchId: 'b1', completeBatch: true, ignorePayload: true },
    { siteId: 'Plzeň ☃', messageId: 'm', chunkId: '7', completeMessage: true },
  ];

  it('gives the topic telemetryTopic gives with the mid added, for every set of properties', () => {
    const topics = new TelemetryTopics();
    for (const properties of sets) {
      for (const mid of ['e0f3a1c2-0000-4000-8000-000000000001', 'e0f3a1c2-0000-4000-8000-000000000002']) {
        expect(topics.of('ws:dev', properties, mid)).toBe(telemetryTopic('ws:dev', { ...properties, mid }));
      }
    }
  });

  it('follows a change of hub device id for the same properties object', () => {
    const topics = new TelemetryTopics();
    const properties = { stream: 's' };
    expect(topics.of('ws:a', properties, 'm1')).toBe('devices/ws:a/messages/events/stream-name=s&$.mid=m1');
    expect(topics.of('ws:b', properties, 'm1')).toBe('devices/ws:b/messages/events/stream-name=s&$.mid=m1');
  });
});

describe('parsePropertyBag', () => {
  it('reads a cloud-to-device bag', () => {
    expect(
      parsePropertyBag('%24.mid=42&%24.to=%2Fdevices%2Fws%3Ad%2Fmessages%2Fdevicebound&color=red'),
    ).toEqual({
      '$.mid': '42',
      '$.to': '/devices/ws:d/messages/devicebound',
      color: 'red',
    });
  });

  it('handles empty input, empty parts, keys without values and repeated keys', () => {
    expect(parsePropertyBag('')).toEqual({});
    expect(parsePropertyBag('&&a=1&&')).toEqual({ a: '1' });
    expect(parsePropertyBag('flag&empty=')).toEqual({ flag: '', empty: '' });
    expect(parsePropertyBag('a=1&a=2')).toEqual({ a: '2' });
    expect(parsePropertyBag('a=b=c')).toEqual({ a: 'b=c' });
  });

  it('does not read + as a space', () => {
    expect(parsePropertyBag('a=x+y')).toEqual({ a: 'x+y' });
  });

  it('stores __proto__ as an ordinary key, without touching the prototype', () => {
    const bag = parsePropertyBag('__proto__=x&constructor=y');
    expect(Object.getPrototypeOf(bag)).toBe(Object.prototype);
    expect(Object.keys(bag)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(bag, '__proto__')?.value).toBe('x');
  });

  it('throws PROTOCOL on malformed percent-encoding, without quoting the bag', () => {
    for (const bad of ['a=%', 'a=%E0%A4%A', '%ZZ=1', 'a=%C3%28', 'ok=1&b=%D8%00']) {
      expectCode(() => parsePropertyBag(bad), 'PROTOCOL');
    }
    try {
      parsePropertyBag('secret-ish=%zz');
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-ish');
    }
  });

  it('throws PROTOCOL on an empty key', () => {
    expectCode(() => parsePropertyBag('=value'), 'PROTOCOL');
    expectCode(() => parsePropertyBag('a=1&='), 'PROTOCOL');
  });
});

describe('validatePropertyValue', () => {
  it('accepts ordinary names, up to 256 characters (code points, not UTF-16 units)', () => {
    for (const ok of ['a', 'stream-1', 'Plzeň', 'a/b+c#d', ' spaced ', 'x'.repeat(256), '😀'.repeat(256)]) {
      expect(() => validatePropertyValue('stream', ok)).not.toThrow();
    }
    expect(MAX_PROPERTY_VALUE_LENGTH).toBe(256);
  });

  it('rejects non-strings, empty and too long strings with INVALID_ARGUMENT naming the option', () => {
    for (const bad of [undefined, null, 1, true, {}, ['a'], '', 'x'.repeat(257), '😀'.repeat(257)]) {
      expectCode(() => validatePropertyValue('batchId', bad), 'INVALID_ARGUMENT');
    }
    expect(() => validatePropertyValue('batchId', '')).toThrow(/batchId/);
  });

  it('rejects control characters (C0, DEL, C1) and unpaired surrogates', () => {
    for (const bad of [
      'a\u0000b',
      'line\n',
      'tab\t',
      '\u001f',
      'del\u007f',
      'c1\u0085',
      '\ud800',
      'x\udc00y',
    ]) {
      expectCode(() => validatePropertyValue('stream', bad), 'INVALID_ARGUMENT');
    }
  });

  it('narrows the type', () => {
    const value: unknown = 'site-7';
    validatePropertyValue('siteId', value);
    expect(value.toUpperCase()).toBe('SITE-7');
  });

  it('lets every accepted value through encodePropertyBag', () => {
    const value = `${'ä'.repeat(100)}😀/+#&=%`;
    validatePropertyValue('stream', value);
    expect(parsePropertyBag(encodePropertyBag({ stream: value }))['stream-name']).toBe(value);
  });
});
