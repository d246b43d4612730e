// zod's tree-shakable build (zod/mini) for every schema keyturn parses: the full build
// cost a cold start about 4 % of a first rotation to load, for methods keyturn never
// calls. English messages as the full build gives them; no compiled fast path (each
// schema is parsed once or twice per rotation, which costs less than compiling it).
// Every module with a schema imports this one (its settings must apply before any parse)
// and zod/mini itself by name: re-exporting the namespace would bundle all of zod again.
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

z.config({ ...en(), jitless: true });

/** How a step reports that its input is not valid (as zod's `ctx.addIssue`). */
export interface IssueSink {
  addIssue(issue: { readonly code: "custom"; readonly message: string }): void;
}

/** `schema`, then `fn` on its output; `fn` reports a problem with `ctx.addIssue` (and returns z.NEVER). */
export function transformed<S extends z.ZodMiniType, O>(schema: S, fn: (value: z.output<S>, ctx: IssueSink) => O) {
  return z.pipe(
    schema,
    z.transform((value: z.output<S>, payload) => fn(value, { addIssue: ({ message }) => void payload.issues.push({ code: "custom", message, input: value }) })),
  );
}
