/**
 * The one colour helper: ANSI SGR styles for the text renderers, and the rule for when colour
 * may be used at all — the stream is a terminal and `NO_COLOR` is unset or empty
 * (https://no-color.org). Renderers stay pure: they take `color` and call {@link paint}.
 *
 * @module
 */

/** The styles the renderers use. */
export type Style = "bold" | "dim" | "red" | "green" | "yellow";

const SGR: Record<Style, string> = { bold: "1", dim: "2", red: "31", green: "32", yellow: "33" };

/** `text` in `style` when `color`, else `text` unchanged. */
export function paint(color: boolean, style: Style, text: string): string {
  return color ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
}

/** True when colour may be written to `stream`: a terminal, and NO_COLOR unset or empty. */
export function colorAllowed(stream: { isTerminal(): boolean } = Deno.stdout): boolean {
  return stream.isTerminal() && !Deno.env.get("NO_COLOR");
}
