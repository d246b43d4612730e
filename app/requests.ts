// What a manual rotation request may say, shared by the HTTP route and the CLI so both
// refuse the same reasons with the same words.
import { z } from "zod";

// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** The operator's reason: it goes to logs and notifications, so no control characters (NUL, newlines). */
export const rotationReason = z
  .string()
  .trim()
  .min(1, "reason must not be empty")
  .max(500, "reason is longer than 500 characters")
  .refine((r) => !CONTROL_CHARACTERS.test(r), "reason must not contain control characters");
