import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { listDefinitions, type DefinitionRow, type Page } from '../api';
import { formatAge, formatDate } from '../format';
import { ErrorText, StatusBadge } from '../components/messages';
import { Pager } from '../components/pager';
import { ScreenHeading } from '../components/screen-heading';
import { currentLocation, Link, navigate, type Location } from '../router';

const PAGE_SIZE = 50;

const STATE_FILTERS: ReadonlyArray<[string, string]> = [
  ['', 'Any state'],
  ['expiring', 'Renewal due or expired'],
  ['expired', 'Expired'],
  ['no-certificate', 'No certificate yet'],
  ['in-progress', 'Acquisition in progress'],
];

/** The filters live in the URL, so a reload or a shared link shows the same list. */
function filtersOf(loc: Location): { q: string; mode: string; state: string; offset: number; monitor: boolean } {
  return {
    q: loc.query.get('q') ?? '',
    mode: loc.query.get('mode') ?? '',
    state: loc.query.get('state') ?? '',
    offset: Math.max(0, Number(loc.query.get('offset') ?? 0) || 0),
    monitor: loc.query.get('view') === 'monitor',
  };
}

function hrefOf(f: ReturnType<typeof filtersOf>): string {
  const q = new URLSearchParams();
  if (f.q) q.set('q', f.q);
  if (f.mode) q.set('mode', f.mode);
  if (f.state) q.set('state', f.state);
  if (f.offset) q.set('offset', String(f.offset));
  if (f.monitor) q.set('view', 'monitor');
  const s = q.toString();
  return `/definitions${s ? `?${s}` : ''}`;
}

/**
 * W1 certificate definitions overview (manual §4.2.1): every definition with the three status columns — current
 * certificate acquisition (days left), next certificate acquisition (renewal process), current certificate
 * deployment — or, in the monitor view, the latest check of its endpoints. Search, filters and paging run on the
 * server.
 */
export function DefinitionsScreen({ loc }: { loc: Location }): JSX.Element {
  const filters = filtersOf(loc);
  const [search, setSearch] = useState(filters.q);
  const [page, setPage] = useState<Page<DefinitionRow> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const debounce = useRef<number | undefined>(undefined);

  // Reads the URL when called (not when rendered): a debounced search must not undo a filter chosen meanwhile.
  const set = (patch: Partial<ReturnType<typeof filtersOf>>): void =>
    navigate(hrefOf({ ...filtersOf(currentLocation()), offset: 0, ...patch }), { replace: true });

  useEffect(() => setSearch(filters.q), [filters.q]);
  // A search still waiting for its debounce must not pull the operator back here after they navigated away.
  useEffect(() => () => window.clearTimeout(debounce.current), []);
  useEffect(() => {
    let stale = false;
    setLoading(true);
    listDefinitions({
      q: filters.q,
      operationMode: filters.mode,
      state: filters.state,
      limit: PAGE_SIZE,
      offset: filters.offset,
    })
      .then((p) => {
        if (stale) return;
        setPage(p);
        setError(null);
      })
      .catch((err: unknown) => !stale && setError(err))
      .finally(() => !stale && setLoading(false));
    return () => {
      stale = true;
    };
  }, [filters.q, filters.mode, filters.state, filters.offset]);

  const onSearchInput = (value: string): void => {
    setSearch(value);
    window.clearTimeout(debounce.current);
    debounce.current = window.setTimeout(() => set({ q: value.trim() }), 300);
  };

  return (
    <>
      <ScreenHeading wid="W1">Certificate definitions</ScreenHeading>
      <div class="actions toolbar">
        <Link class="button-link" href="/definitions/new">
          New definition
        </Link>
        <Link class="button-link" href="/definitions/import">
          Import certificate file
        </Link>
      </div>
      <form
        class="filters"
        role="search"
        aria-label="Filter definitions"
        onSubmit={(e) => {
          e.preventDefault();
          window.clearTimeout(debounce.current);
          set({ q: search.trim() });
        }}
      >
        <div class="field">
          <label for="def-search">Search</label>
          <input
            id="def-search"
            type="search"
            placeholder="name or common name"
            value={search}
            onInput={(e) => onSearchInput(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="def-mode">Operation mode</label>
          <select id="def-mode" value={filters.mode} onChange={(e) => set({ mode: e.currentTarget.value })}>
            <option value="">All</option>
            <option value="managed">Lifecycle managed</option>
            <option value="monitored">Monitoring only</option>
          </select>
        </div>
        <div class="field">
          <label for="def-state">State</label>
          <select id="def-state" value={filters.state} onChange={(e) => set({ state: e.currentTarget.value })}>
            {STATE_FILTERS.map(([value, label]) => (
              <option value={value} key={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <div class="field field-toggle">
          <button
            type="button"
            class="toggle"
            aria-pressed={filters.monitor}
            onClick={() => set({ monitor: !filters.monitor, offset: filters.offset })}
          >
            Monitor view
          </button>
        </div>
      </form>
      <ErrorText error={error} />
      {page ? (
        <DefinitionsTable page={page} monitor={filters.monitor} busy={loading} />
      ) : loading ? (
        <p role="status">Loading definitions…</p>
      ) : null}
      {page ? (
        <Pager
          label="Definitions"
          offset={filters.offset}
          limit={PAGE_SIZE}
          total={page.total}
          onOffset={(offset) => navigate(hrefOf({ ...filters, offset }))}
        />
      ) : null}
    </>
  );
}

function DefinitionsTable(props: { page: Page<DefinitionRow>; monitor: boolean; busy: boolean }): JSX.Element {
  const { items, total } = props.page;
  if (total === 0) return <p class="empty">No definitions match.</p>;
  return (
    <div class="table-wrap">
      <table class="data" aria-busy={props.busy} id="definitions-table">
        <caption>
          {total} definition{total === 1 ? '' : 's'}
          {props.monitor ? ' — monitor view' : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Definition</th>
            <th scope="col">Mode</th>
            {props.monitor ? (
              <>
                <th scope="col">Endpoints</th>
                <th scope="col">Latest check</th>
                <th scope="col">Last checked</th>
                <th scope="col">Current certificate expires</th>
              </>
            ) : (
              <>
                <th scope="col">Current certificate acquisition</th>
                <th scope="col">Next certificate acquisition</th>
                <th scope="col">Current certificate deployment</th>
              </>
            )}
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id} data-definition={d.name}>
              <th scope="row">
                <Link class="name" href={`/definitions/${d.id}`}>
                  {d.name}
                </Link>
                {d.subject.commonName !== d.name ? <span class="sub">{d.subject.commonName}</span> : null}
              </th>
              <td>
                {d.operationMode === 'managed' ? 'managed' : 'monitoring only'}
                <span class="sub">{d.processMode}</span>
              </td>
              {props.monitor ? (
                <>
                  <td>{d.status?.monitor.endpoints ?? 0}</td>
                  <td data-col="monitor">
                    {d.status ? <StatusBadge state={d.status.monitor.state} label={d.status.monitor.label} /> : '—'}
                  </td>
                  <td>{formatAge(d.status?.monitor.lastCheckedAt)}</td>
                  <td>{formatDate(d.status?.current.notAfter)}</td>
                </>
              ) : (
                <>
                  <td data-col="current">
                    {d.status ? <StatusBadge state={d.status.current.state} label={d.status.current.label} /> : '—'}
                    {d.status?.current.notAfter ? (
                      <span class="sub">expires {formatDate(d.status.current.notAfter)}</span>
                    ) : null}
                  </td>
                  <td data-col="next">
                    {d.status ? <StatusBadge state={d.status.next.state} label={d.status.next.label} /> : '—'}
                  </td>
                  <td data-col="deployment">
                    {d.status ? (
                      <StatusBadge state={d.status.deployment.state} label={d.status.deployment.label} />
                    ) : (
                      '—'
                    )}
                  </td>
                </>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
