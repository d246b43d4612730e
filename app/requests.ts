// What a manual rotation request may say, shared by the HTTP route and the CLI so both
// refuse the same reasons with the same words.
import * as z from "zod/mini";
import "../core/schema.js";
import { hasControlCharacter } from "../core/text.js";

/** The operator's reason: it goes to logs and notifications, so no control characters (NUL, newlines). */
export const rotationReason = z
  .string()
  .check(
    z.trim(),
    z.minLength(1, "reason must not be empty"),
    z.maxLength(500, "reason is longer than 500 characters"),
    z.refine((r) => !hasControlCharacter(r), "reason must not contain control characters"),
  );
