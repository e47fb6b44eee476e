#!/usr/bin/env node
// Writes a fresh RS256 private JWK (2048-bit RSA, with `kid` = RFC 7638 thumbprint,
// `alg: RS256`, `use: sig`; with --ec an ES256 P-256 key) as JSON on stdout, or into the
// file given with --out.
//
//   node genkey.mjs                 # one JWK object on stdout
//   node genkey.mjs --out key.json  # same, written to key.json (mode 0600)
//   node genkey.mjs --kid my-kid    # explicit kid instead of the thumbprint
//   node genkey.mjs --pem key.pem   # also write the same private key as PKCS#8 PEM (mode 0600),
//                                   # e.g. for a private_key_jwt client (public JWK -> `jwks`)
//   node genkey.mjs --ec            # an ES256 (EC P-256) key instead of RS256

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    kid: { type: 'string' },
    bits: { type: 'string', default: '2048' },
    pem: { type: 'string' },
    ec: { type: 'boolean', default: false },
  },
  strict: true,
});

const { privateKey } = values.ec
  ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : crypto.generateKeyPairSync('rsa', { modulusLength: Number.parseInt(values.bits, 10) });
const jwk = privateKey.export({ format: 'jwk' });
// RFC 7638: the required public members, in lexicographic order.
const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
const thumbprint = crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');

const out = JSON.stringify({
  kid: values.kid ?? thumbprint,
  alg: jwk.kty === 'EC' ? 'ES256' : 'RS256',
  use: 'sig',
  ...jwk,
});

if (values.pem) {
  fs.writeFileSync(values.pem, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
}

if (values.out) {
  fs.writeFileSync(values.out, `${out}\n`, { mode: 0o600 });
} else {
  process.stdout.write(`${out}\n`);
}
