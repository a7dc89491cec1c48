import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * A vitest sequencer that starts the files of `order` first, in that order (paths relative to the project root); a
 * file not listed keeps vitest's order, after these. On a fresh clone (CI) vitest has no durations yet and starts the
 * largest files first, which are not the longest: a long file that starts last is a worker alone at the end.
 */
export function longestFirstSequencer(order: readonly string[]): typeof BaseSequencer {
  return class LongestFirstSequencer extends BaseSequencer {
    override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
      const sorted = await super.sort(files);
      const rank = (file: TestSpecification) => {
        const index = order.indexOf(relative(file.project.config.root, file.moduleId).replaceAll('\\', '/'));
        return index === -1 ? order.length : index;
      };
      return sorted
        .map((file, position) => ({ file, position, rank: rank(file) }))
        .sort((a, b) => a.rank - b.rank || a.position - b.position)
        .map(({ file }) => file);
    }
  };
}
