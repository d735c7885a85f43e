// A real OpenID Connect provider for the portal's sign-in tests: npm's oidc-provider, started
// on 127.0.0.1 by tests/test_portal_oidc.py. Its development login page accepts any login and
// any password; the claims of each login come from OIDC_ACCOUNTS (JSON: login -> claims).
// PKCE is required of every client, as Pro Santé Connect requires it.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const installed = path.join(here, "..", "..", "services", "portal", "node_modules");
const { default: Provider } = await import(
  pathToFileURL(path.join(installed, "oidc-provider", "lib", "index.js")).href
);

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || "{}");

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  pkce: { required: () => true },
  claims: {
    openid: ["sub"],
    profile: ["name"],
    email: ["email"],
    iaspipe: ["iaspipe_role", "finess", "cpias", "region"],
  },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, ...(accounts[id] || {}) }; } };
  },
  cookies: { keys: ["iaspipe-test-only-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});

provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider ${issuer} ready`);
});
