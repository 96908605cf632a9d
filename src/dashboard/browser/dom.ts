/** Attribute values as the page sets them (numbers become their decimal text). */
export type Attributes = Readonly<Record<string, string | number>>;
export type Child = Node | string;

const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';

function fill<T extends Element>(node: T, attributes: Attributes, children: readonly Child[]): T {
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child);
  return node;
}

/** An HTML element; text children become text nodes (job data is never parsed as HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  return fill(document.createElement(tag), attributes, children);
}

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  children: readonly Child[] = [],
): SVGElementTagNameMap[K] {
  return fill(document.createElementNS(SVG_NAMESPACE, tag), attributes, children);
}

/** An element the page's HTML must have. */
export function required<T extends Element = HTMLElement>(selector: string): T {
  const node = document.querySelector<T>(selector);
  if (node === null) throw new Error(`The page has no ${selector}`);
  return node;
}
