// A certified OpenID Provider (panva/oidc-provider) on 127.0.0.1, for Cargohold's tests.
//
//   PORT=5556 REDIRECT_URI=http://127.0.0.1:5000/sign-in/sso/callback node server.js
//
// - Single sign-on: the client `cargohold-ui` (secret `ui-secret`) signs people in with the
//   authorization code flow and PKCE, through the provider's own login and consent pages
//   (its development interactions: any password is right). Who may sign in is ACCOUNTS
//   below; the ID token carries only `sub` (the provider conforms to the spec: the email is
//   at the userinfo endpoint), so the registry reads it there.
// - Keyless CI: POST /token with grant_type=urn:cargohold:test:ci-token and the client
//   credentials of `ci-bitbucket`, `ci-github` or `ci-gitlab` (secret `ci-secret`) answers
//   an ID token signed with the provider's key, for that client (aud), carrying the JSON
//   object `claims` as its claims: what each CI system puts in its tokens.
//
// It prints `listening on URL` once it answers, and stops on SIGTERM.
import { generateKeyPairSync } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const redirectUri = process.env.REDIRECT_URI || 'http://127.0.0.1:5000/sign-in/sso/callback';
const CI_GRANT = 'urn:cargohold:test:ci-token';

// People of the provider, by login name.
const ACCOUNTS = {
  'owner@example.com': { email: 'owner@example.com', email_verified: true, name: 'Owner' },
  'reader@example.com': { email: 'reader@example.com', email_verified: true, name: 'Reader' },
  'mallory@example.com': { email: 'owner@example.com', email_verified: false, name: 'Mallory' },
};

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'provider-rs256', alg: 'RS256', use: 'sig' };
}

const ciClient = (id) => ({
  client_id: id,
  client_secret: 'ci-secret',
  grant_types: [CI_GRANT],
  response_types: [],
  redirect_uris: [],
});

const configuration = {
  clients: [
    {
      client_id: 'cargohold-ui',
      client_secret: 'ui-secret',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    ciClient('ci-bitbucket'),
    ciClient('ci-github'),
    ciClient('ci-gitlab'),
  ],
  jwks: { keys: [signingKey()] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...account }; } };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['cargohold tests: not a secret'] },
  ttl: { IdToken: 600 },
};

const provider = new Provider(issuer, configuration);

// A CI system's ID token: the claims asked for, signed by the provider for the calling client.
provider.registerGrantType(
  CI_GRANT,
  async (ctx) => {
    let claims;
    try {
      claims = JSON.parse(ctx.oidc.params.claims || '{}');
    } catch {
      throw new errors.InvalidRequest('claims must be a JSON object');
    }
    const token = new provider.IdToken({ sub: String(claims.sub || 'pipeline') }, { ctx });
    token.scope = 'openid';
    for (const [name, value] of Object.entries(claims)) {
      if (!['iss', 'aud', 'exp', 'iat', 'sub'].includes(name)) token.set(name, value);
    }
    const idToken = await token.issue({ use: 'idtoken' });
    ctx.body = { id_token: idToken, token_type: 'N_A', expires_in: 600 };
  },
  ['claims'],
);

provider.on('server_error', (ctx, error) => console.error('server_error', error));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
