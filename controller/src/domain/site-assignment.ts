/**
 * "Any agent of a site" (SPEC M4): within one monitoring run, each site endpoint goes to the connected agent of its
 * site that has the fewest endpoints so far (ties: the first in the candidate order), so the load is spread; a
 * re-assignment excludes the agents already tried. Pure: the caller says which agents are connected.
 */
export class SiteAssigner {
  private readonly load = new Map<string, number>();

  /** @param candidates site → connected, non-banned agent ids, in a stable order */
  constructor(private readonly candidates: ReadonlyMap<string, readonly string[]>) {}

  /** The least-loaded candidate of `site` not in `exclude`, counted as assigned `weight` endpoints; null if none. */
  pick(site: string, exclude: ReadonlySet<string> = new Set(), weight = 1): string | null {
    let best: string | null = null;
    let bestLoad = Infinity;
    for (const id of this.candidates.get(site) ?? []) {
      if (exclude.has(id)) continue;
      const l = this.load.get(id) ?? 0;
      if (l < bestLoad) {
        best = id;
        bestLoad = l;
      }
    }
    if (best !== null) this.load.set(best, bestLoad + weight);
    return best;
  }

  /** Endpoints assigned to `agentId` so far in this run. */
  loadOf(agentId: string): number {
    return this.load.get(agentId) ?? 0;
  }
}
