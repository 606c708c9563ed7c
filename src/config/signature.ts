/**
 * Detached Ed25519 signatures of config files (node:crypto, no dependency): a site runs only a
 * config that one of its trusted public keys signed. The signature is over the file's exact bytes
 * and sits beside it as `<file>.sig`, one line:
 *
 *   ed25519 <key id> <base64 signature>
 *
 * The key id (16 hex digits of the SHA-256 of the raw public key) names which key signed, so
 * that a site can tell "signed by a key I do not trust" from "tampered with", and during a key
 * rotation two trusted keys are told apart in the log.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

export const SIGNATURE_SUFFIX = '.sig';
const SCHEME = 'ed25519';

/** Why a signed file is refused; the values of checkpoint_config_rejected_total's `reason`. */
export type SignatureProblem = 'signature_missing' | 'signature_malformed' | 'unknown_key' | 'bad_signature';

export interface PublicKeyEntry {
  id: string;
  key: KeyObject;
}

/** A new key pair, as PEM: the private key (PKCS#8) for the signer, the public one (SPKI) for the sites. */
export function generateKeyPair(): { privatePem: string; publicPem: string; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    id: keyId(publicKey),
  };
}

/** The id of a public key: the first 16 hex digits of the SHA-256 of its 32 raw bytes. */
export function keyId(publicKey: KeyObject): string {
  const raw = Buffer.from(String(publicKey.export({ format: 'jwk' }).x), 'base64url');
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** The Ed25519 key in `pem`, public or private; throws naming `label` when it is not one. */
function ed25519Key(pem: string, label: string, kind: 'public' | 'private'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'public' ? createPublicKey(pem) : createPrivateKey(pem);
  } catch {
    throw new Error(`${label}: not a PEM ${kind} key`);
  }
  if (key.asymmetricKeyType !== SCHEME) throw new Error(`${label}: an ${key.asymmetricKeyType ?? 'unknown'} key, not ed25519`);
  return key;
}

/** A trusted public key from its PEM text; throws naming `label` when it is not an Ed25519 public key. */
export function parsePublicKey(pem: string, label: string): PublicKeyEntry {
  const key = ed25519Key(pem, label, 'public');
  return { id: keyId(key), key };
}

/** The signature line for `content`, signed with the PEM private key. */
export function signContent(content: Buffer, privatePem: string, label: string): string {
  const key = ed25519Key(privatePem, label, 'private');
  const signature = sign(null, content, key).toString('base64');
  return `${SCHEME} ${keyId(createPublicKey(key))} ${signature}\n`;
}

/**
 * Checks `content` against its signature line (undefined: there was none) and the trusted keys:
 * the id of the key that signed it, or why it is refused.
 */
export function verifyContent(
  content: Buffer,
  signatureLine: string | undefined,
  trusted: readonly PublicKeyEntry[],
): { ok: true; keyId: string } | { ok: false; problem: SignatureProblem; keyId?: string } {
  if (signatureLine === undefined) return { ok: false, problem: 'signature_missing' };
  const match = /^ed25519 ([0-9a-f]{16}) ([A-Za-z0-9+/]{86}==)\s*$/.exec(signatureLine);
  if (!match) return { ok: false, problem: 'signature_malformed' };
  const [, id = '', signature = ''] = match;
  const key = trusted.find((entry) => entry.id === id);
  if (!key) return { ok: false, problem: 'unknown_key', keyId: id };
  return verify(null, content, key.key, Buffer.from(signature, 'base64')) ? { ok: true, keyId: id } : { ok: false, problem: 'bad_signature', keyId: id };
}
