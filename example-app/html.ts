import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';

/**
 * HTML that is safe to put in a page as it is. Only {@link html} makes it: every value put into
 * an `html` template is escaped unless it is itself `Html`.
 */
export class Html {
  readonly #text: string;
  constructor(text: string) {
    this.#text = text;
  }
  toString(): string {
    return this.#text;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** A template tag that escapes what is interpolated: html`<p>${userInput}</p>`. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** The one stylesheet of both the app and the demo identity provider, at this path. */
export const STYLESHEET_PATH = '/assets/style.css';
/** The icon of both, at this path (an SVG: one small file for every size). */
export const FAVICON_PATH = '/assets/favicon.svg';

/** A whole page: no inline script or style, so that a strict Content-Security-Policy holds. */
export function page(options: { title: string; site: string; body: Html; user?: string | undefined }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · ${options.site}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="icon" href="${FAVICON_PATH}" type="image/svg+xml">
</head>
<body>
<header><a class="site" href="/">${options.site}</a>${
    options.user === undefined
      ? ''
      : html`<form class="logout" method="post" action="/logout"><span class="user">${options.user}</span> <button type="submit" class="secondary">Log out</button></form>`
  }</header>
<main>
${options.body}
</main>
</body>
</html>
`.toString();
}

/**
 * Serves example-app/public/ under /assets. The folder is found next to this module when it runs
 * from source (tests) and one level up when it runs compiled from example-app/dist/.
 */
export function assets(): RequestHandler {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'public'), path.join(here, '..', 'public')];
  const dir = candidates.find((candidate) => existsSync(path.join(candidate, 'style.css')));
  if (!dir) throw new Error(`example-app/public/style.css not found (looked in ${candidates.join(', ')}).`);
  return express.static(dir, { index: false, fallthrough: true, maxAge: '1h' });
}
