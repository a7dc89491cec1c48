/**
 * DOM helpers. Everything from the API goes into the page as text (`textContent`, attributes); nothing is ever
 * parsed as HTML.
 */

export type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  title?: string;
  /** The `data-test` hook (see emulator/portal/README.md). */
  test?: string;
  /** `data-*` attributes, by their name without `data-`. */
  data?: Record<string, string>;
  /** Other attributes. */
  attrs?: Record<string, string>;
  onClick?: (event: MouseEvent) => void;
}

/** Creates an element with text, attributes and children (strings become text nodes). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  if (props.title !== undefined) node.title = props.title;
  if (props.test) node.dataset.test = props.test;
  for (const [key, value] of Object.entries(props.data ?? {})) node.dataset[key] = value;
  for (const [key, value] of Object.entries(props.attrs ?? {})) node.setAttribute(key, value);
  if (props.onClick) (node as HTMLElement).addEventListener('click', props.onClick);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** The element with this id, of this type; throws when the page lacks it (a bug in index.html). */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T;
export function byId(id: string): HTMLElement;
export function byId<T extends HTMLElement>(id: string, type?: new () => T): T | HTMLElement {
  const node = document.getElementById(id);
  if (!node || (type && !(node instanceof type))) throw new Error(`the page has no #${id}`);
  return node;
}

/** Puts `node` at position `index` of `parent`, touching the DOM only when it is not there already. */
export function placeAt(parent: Element, node: Element, index: number): void {
  const current = parent.children[index];
  if (current !== node) parent.insertBefore(node, current ?? null);
}

export type StatusKind = 'ok' | 'error' | 'busy' | 'info';

/**
 * Shows a message in a status line (the result area beside a form or list): the text, and `data-state` for tests
 * and styles. Empty text hides it.
 */
export function say(node: HTMLElement, text: string, kind: StatusKind = 'info'): void {
  node.textContent = text;
  node.className = text ? `status ${kind}` : 'status';
  if (text) node.dataset.state = kind;
  else delete node.dataset.state;
}
