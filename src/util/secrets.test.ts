import { describe, expect, it } from 'vitest';
import { type Logger, safeLogger } from '../logger.js';
import { Secrets, scrubShapes } from './secrets.js';

const sas =
  'SharedAccessSignature sr=hub.example.com%2Fdevices%2Fws%253Adev&sig=AbC%2BdEf%3D123456&se=1767225600';

describe('Secrets', () => {
  it('scrubs every known secret, in its raw, URL-encoded and decoded forms', () => {
    const secrets = new Secrets();
    secrets.add('prov-token-1234567890', { pinned: true });
    secrets.add('reg/token+with=chars');
    const text = `title: bad token prov-token-1234567890, ${encodeURIComponent('reg/token+with=chars')} and reg/token+with=chars`;
    expect(secrets.scrub(text)).toBe('title: bad token [redacted], [redacted] and [redacted]');
  });

  it("scrubs a SAS token's signature on its own (encoded or not)", () => {
    const secrets = new Secrets();
    secrets.add(sas);
    expect(secrets.scrub('the signature AbC%2BdEf%3D123456 or AbC+dEf=123456 was wrong')).toBe(
      'the signature [redacted] or [redacted] was wrong',
    );
  });

  it('scrubs what looks like a credential even when unknown: Bearer, SharedAccessSignature, sig=', () => {
    expect(scrubShapes('bad token Bearer abc.def-ghi, tried "SharedAccessSignature sr=x&sig=y&se=1"')).toBe(
      'bad token Bearer [redacted], tried "SharedAccessSignature [redacted]"',
    );
    expect(scrubShapes('https://blob/x?sv=1&sig=SECRET%2F&se=2')).toBe(
      'https://blob/x?sv=1&sig=[redacted]&se=2',
    );
  });

  it('ignores short strings, keeps the pinned token, and forgets the oldest of many renewed tokens', () => {
    const secrets = new Secrets();
    secrets.add('short');
    expect(secrets.scrub('short')).toBe('short');
    secrets.add('the-provisioning-token', { pinned: true });
    for (let i = 0; i < 200; i++) secrets.add(`renewed-token-${String(i).padStart(4, '0')}`);
    expect(secrets.scrub('renewed-token-0000')).toBe('renewed-token-0000'); // forgotten (long expired)
    expect(secrets.scrub('renewed-token-0199 the-provisioning-token')).toBe('[redacted] [redacted]');
  });
});

describe('safeLogger with secrets', () => {
  it('scrubs messages, string fields and error messages', () => {
    const lines: string[] = [];
    const sink: Logger = {
      debug: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
      info: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
      warn: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
      error: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
    };
    const secrets = new Secrets();
    secrets.add('registration-token-42');
    const log = safeLogger(sink, secrets);
    log.warn('server said registration-token-42', {
      detail: 'echo registration-token-42',
      error: new Error('Bearer registration-token-42 refused'),
      nested: { text: 'registration-token-42' },
    });
    expect(lines.join('\n')).not.toContain('registration-token-42');
    expect(lines[0]).toBe(
      'server said [redacted] {"detail":"echo [redacted]","error":"Error: Bearer [redacted] refused","nested":{"text":"[redacted]"}}',
    );
  });
});
