/** Render rows as a Markdown table (the README quotes these tables verbatim). */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const separator = headers.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(headers), line(separator), ...rows.map(line)].join('\n');
}
