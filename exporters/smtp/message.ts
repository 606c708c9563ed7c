/**
 * The test message: a unique id in a header of its own, in the Subject and in the Message-ID, so
 * the delivery check finds exactly this probe's message and a human sees what it is.
 */
import { randomUUID } from 'node:crypto';
import type { MailSettings } from './schema';

export const PROBE_ID_HEADER = 'X-Checkpoint-Probe-Id';

export function newProbeId(): string {
  return randomUUID().replace(/-/g, '');
}

/** The message as DATA sends it: CRLF lines, dot-stuffed, ending with the lone dot. */
export function messageForData(mail: MailSettings, id: string, ehloName: string, now = new Date()): string {
  const headers = [
    `From: ${mail.from === '' ? `<>` : `<${mail.from}>`}`,
    `To: ${mail.to.map((address) => `<${address}>`).join(', ')}`,
    `Subject: ${mail.subject} [${id}]`,
    `Date: ${now.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}@${ehloName.replace(/[[\]]/g, '')}>`,
    `${PROBE_ID_HEADER}: ${id}`,
    // RFC 3834: no vacation replies or bounces of bounces to a monitoring message.
    'Auto-Submitted: auto-generated',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Transfer-Encoding: 7bit',
  ];
  const body = mail.body
    .replace(/\r\n|\r|\n/g, '\n')
    .replace(/\n$/, '')
    .split('\n');
  return [...headers, '', ...body].map(dotStuff).join('\r\n') + '\r\n.\r\n';
}

/** RFC 5321 4.5.2: a line that starts with a dot gets one more, so it cannot end the message. */
export function dotStuff(line: string): string {
  return line.startsWith('.') ? `.${line}` : line;
}
