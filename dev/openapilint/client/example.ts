// A typed Switchboard client in a few lines: the types are generated from
// docs/openapi.yaml by openapi-typescript (pinned in dev/package.json):
//
//   cd dev && npx openapi-typescript ../docs/openapi.yaml -o openapilint/client/switchboard.d.ts
//
// dev/openapilint generates them and type-checks this file with tsc, so the
// README's recipe keeps working as the document changes.
import type { components, operations } from "./switchboard";

type Token = components["schemas"]["Token"];
type TokenRequest = NonNullable<operations["issueToken"]["requestBody"]>["content"]["application/json"];
type Problem = components["schemas"]["Problem"];
type CallCreated = operations["createCall"]["responses"][201]["content"]["application/json"];
type NewCall = NonNullable<operations["createCall"]["requestBody"]>["content"]["application/json"];

export class SwitchboardError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(`${status} ${problem.code}: ${problem.detail ?? problem.title}`);
  }
}

export class Switchboard {
  constructor(private readonly base: string, private readonly appToken: () => Promise<string>) {}

  private async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.base + path, {
      method,
      headers: { Authorization: `Bearer ${await this.appToken()}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new SwitchboardError(res.status, (await res.json()) as Problem);
    return (await res.json()) as T;
  }

  // An ACS token for the signed-in user (their ACS identity is made on first use).
  token(req: TokenRequest = { scopes: ["voip"], expiresInMinutes: 60 }): Promise<Token> {
    return this.send<Token>("POST", "/api/token", req);
  }

  // A call inviting mutual contacts; they get an invitation push.
  createCall(req: NewCall): Promise<CallCreated> {
    return this.send<CallCreated>("POST", "/api/calls", req);
  }
}

export async function example(base: string, appToken: () => Promise<string>): Promise<string> {
  const sb = new Switchboard(base, appToken);
  const { token, acsUserId } = await sb.token();
  const call = await sb.createCall({ kind: "group", invitees: ["bob"], subject: "Stand-up" });
  return `${acsUserId} ${token.length} ${call.id}`;
}
