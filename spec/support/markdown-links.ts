/**
 * The links of a Markdown page and the anchors its headings get, as GitHub renders them, so that
 * the docs spec can tell a link to a renamed file or section from a working one.
 */

/** The lines outside fenced code blocks, with their numbers: a block's `](…)` or `# …` is code. */
function* proseLines(text: string): Generator<readonly [string, number]> {
  let fenced = false;
  for (const [index, line] of text.split('\n').entries()) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced) yield [line, index + 1];
  }
}

/** The anchors of the page's headings: GitHub's slugs, a repeated heading getting `-1`, `-2` … */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [line] of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

export interface LocalLink {
  /** The path as written, relative to the page; empty for a link within the page. */
  readonly path: string;
  readonly anchor: string | undefined;
  readonly line: number;
}

/** The page's links to files of the project (`[text](path#anchor)`); web addresses are left out. */
export function localLinks(text: string): LocalLink[] {
  const links: LocalLink[] = [];
  for (const [line, number] of proseLines(text)) {
    for (const [, target = ''] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const [path = '', anchor] = target.split('#');
      links.push({ path, anchor, line: number });
    }
  }
  return links;
}
