// Text that reaches log lines, tags and notifications from outside (reasons, caller names).

// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** True when the text holds a control character (NUL, newline, ESC, DEL...). */
export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}
