/**
 * HTML written as tagged templates that escape by default: every `${value}` in an {@link html}
 * template is escaped (text and attribute values alike) unless it is itself {@link Html} — the
 * result of another `html` template, or of {@link raw} for trusted constant markup. An array
 * interpolates its items, each by the same rule; null, undefined and false render nothing. So a
 * tag, a label or an annotation value from a pushed image can never become markup: escaping is
 * the only path from data to the page.
 */

/** Markup that is already safe to write: made by {@link html} or {@link raw}. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** `value` with `& < > " '` as entities: safe in text and in quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

/** What may be interpolated into an {@link html} template. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** The tagged template: see the module comment. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Trusted markup written as is: only for constants of this code, never for data. */
export function raw(text: string): Html {
  return new Html(text);
}
