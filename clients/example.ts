// How a client uses the generated types; `make clients-check` compiles it with `tsc --strict`, so
// a change of the document that breaks this usage fails CI.
import type { components, operations, paths } from "./mailroom-api";

type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;

export type SendRequest = Json<operations["postSend"]["requestBody"]>;
export type SendAnswer = Json<operations["postSend"]["responses"][200]>;
export type ErrorAnswer = components["schemas"]["Error"];
export type EmailPath = keyof paths & `/emails/${string}`;

/** POST /send with an API key of scope `send`; the new email's id. */
export async function send(base: string, key: string, email: SendRequest): Promise<string> {
  const answer = await fetch(`${base}/send`, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: JSON.stringify(email),
  });
  if (!answer.ok) {
    const failure = (await answer.json()) as ErrorAnswer;
    throw new Error(`${failure.message}: ${failure.error}`);
  }
  const accepted = (await answer.json()) as SendAnswer;
  return accepted.data?.emailId ?? "";
}

// Only `to` is required: every field with a default may be left out.
export const welcome: SendRequest = {
  to: ["ann@example.com"],
  from: "Mailroom <noreply@example.com>",
  subject: "Welcome, {{ name }}",
  text: "Hello {{ name }}",
  variables: { name: "Ann" },
};

export const statusPath: EmailPath = "/emails/{email_id}";
