import {
  aesDecryptGCM,
  aesEncryptGCM,
  Curve,
  hkdf,
  type KeyPair,
  NOISE_MODE,
  NOISE_WA_HEADER,
  proto,
  sha256,
} from '@whiskeysockets/baileys';

const iv = (counter: number): Buffer => {
  const buf = Buffer.alloc(12);
  buf.writeUInt32BE(counter, 8);
  return buf;
};

const split = (data: Uint8Array, salt: Uint8Array): [Buffer, Buffer] => {
  const out = Buffer.from(hkdf(data, 64, { salt, info: '' }));
  return [out.subarray(0, 32), out.subarray(32)];
};

/** Server's certificate material: root (trusted by tests) -> intermediate -> leaf (= server static key). */
export interface ServerIdentity {
  root: KeyPair;
  staticKey: KeyPair;
  certChain: Uint8Array;
}

export function makeServerIdentity(): ServerIdentity {
  const root = Curve.generateKeyPair();
  const intermediate = Curve.generateKeyPair();
  const staticKey = Curve.generateKeyPair();
  const Details = proto.CertChain.NoiseCertificate.Details;
  const intermediateDetails = Details.encode({
    serial: 1,
    issuerSerial: 0,
    key: intermediate.public,
    notBefore: 0,
    notAfter: 4_102_444_800,
  }).finish();
  const leafDetails = Details.encode({
    serial: 2,
    issuerSerial: 1,
    key: staticKey.public,
    notBefore: 0,
    notAfter: 4_102_444_800,
  }).finish();
  const certChain = proto.CertChain.encode({
    intermediate: { details: intermediateDetails, signature: Curve.sign(root.private, intermediateDetails) },
    leaf: { details: leafDetails, signature: Curve.sign(intermediate.private, leafDetails) },
  }).finish();
  return { root, staticKey, certChain };
}

export class TransportCipher {
  private readCounter = 0;
  private writeCounter = 0;

  constructor(
    private readonly encKey: Buffer,
    private readonly decKey: Buffer,
  ) {}

  encrypt(plaintext: Uint8Array): Buffer {
    return aesEncryptGCM(plaintext, this.encKey, iv(this.writeCounter++), Buffer.alloc(0));
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    return aesDecryptGCM(ciphertext, this.decKey, iv(this.readCounter++), Buffer.alloc(0));
  }
}

/** Responder side of WA's Noise XX handshake (mirror of Baileys' makeNoiseHandler). */
export class ServerHandshake {
  private hash: Buffer = Buffer.from(NOISE_MODE);
  private salt: Buffer = this.hash;
  private key: Buffer = this.hash;
  private counter = 0;
  private readonly ephemeral = Curve.generateKeyPair();
  clientStatic?: Buffer;

  constructor(private readonly identity: ServerIdentity) {
    this.authenticate(NOISE_WA_HEADER);
  }

  private authenticate(data: Uint8Array): void {
    this.hash = sha256(Buffer.concat([this.hash, data]));
  }

  private encrypt(plaintext: Uint8Array): Buffer {
    const out = aesEncryptGCM(plaintext, this.key, iv(this.counter++), this.hash);
    this.authenticate(out);
    return out;
  }

  private decrypt(ciphertext: Uint8Array): Buffer {
    const out = aesDecryptGCM(ciphertext, this.key, iv(this.counter++), this.hash);
    this.authenticate(ciphertext);
    return out;
  }

  private mixIntoKey(data: Uint8Array): void {
    [this.salt, this.key] = split(data, this.salt);
    this.counter = 0;
  }

  /** Consumes the client hello, returns the encoded serverHello HandshakeMessage. */
  serverHello(clientEphemeral: Uint8Array): Uint8Array {
    const ce = Buffer.from(clientEphemeral);
    this.authenticate(ce);
    this.authenticate(this.ephemeral.public);
    this.mixIntoKey(Curve.sharedKey(this.ephemeral.private, ce));
    const staticEnc = this.encrypt(this.identity.staticKey.public);
    this.mixIntoKey(Curve.sharedKey(this.identity.staticKey.private, ce));
    const payload = this.encrypt(this.identity.certChain);
    return proto.HandshakeMessage.encode({
      serverHello: { ephemeral: this.ephemeral.public, static: staticEnc, payload },
    }).finish();
  }

  /** Consumes clientFinish; returns the decoded ClientPayload and the transport cipher. */
  clientFinish(finish: proto.HandshakeMessage.IClientFinish): {
    payload: proto.ClientPayload;
    transport: TransportCipher;
  } {
    if (!finish.static || !finish.payload) {
      throw new Error('clientFinish without static/payload');
    }
    this.clientStatic = this.decrypt(finish.static);
    this.mixIntoKey(Curve.sharedKey(this.ephemeral.private, this.clientStatic));
    const payload = proto.ClientPayload.decode(this.decrypt(finish.payload));
    const [write, read] = split(new Uint8Array(0), this.salt);
    // client writes with the first half, reads with the second
    return { payload, transport: new TransportCipher(read, write) };
  }
}
