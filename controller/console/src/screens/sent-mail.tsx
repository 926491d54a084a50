import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { listSentMail, type Page, type SentMailRow } from '../api';
import { formatDateTime } from '../format';
import { ErrorText, StatusBadge } from '../components/messages';
import { Pager } from '../components/pager';
import { ScreenHeading } from '../components/screen-heading';
import { DataTable } from '../components/data-table';

const PAGE_SIZE = 50;

/** W7 sent mail (SPEC N3, manual §4.3.4): every notification attempt, sent or failed, newest first. */
export function SentMailScreen(): JSX.Element {
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<SentMailRow> | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    listSentMail({ status: status || undefined, limit: PAGE_SIZE, offset })
      .then((p) => {
        setPage(p);
        setError(null);
      })
      .catch(setError);
  }, [status, offset]);
  return (
    <>
      <ScreenHeading wid="W7">Sent mail</ScreenHeading>
      <form class="filters" role="search" aria-label="Filter sent mail" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="mail-status">Status</label>
          <select
            id="mail-status"
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value);
              setOffset(0);
            }}
          >
            <option value="">All</option>
            <option value="sent">Sent</option>
            <option value="failed">Failed</option>
          </select>
        </div>
      </form>
      <ErrorText error={error} />
      {page && page.total === 0 ? <p class="empty">No mail sent yet.</p> : null}
      {page && page.total > 0 ? (
        <>
          <DataTable
            id="sent-mail"
            caption={<>{page.total} message(s), newest first</>}
            columns={['Time', 'Subject', 'To', 'Kind', 'Result']}
          >
            {page.items.map((m) => (
              <tr key={m.id}>
                <td class="nowrap">{formatDateTime(m.at)}</td>
                <th scope="row">{m.subject}</th>
                <td>{m.to.join(', ')}</td>
                <td>{m.template}</td>
                <td>
                  <StatusBadge state={m.status === 'sent' ? 'ok' : 'failing'} label={m.status} />
                  {m.error ? <span class="sub">{m.error}</span> : null}
                </td>
              </tr>
            ))}
          </DataTable>
          <Pager label="Sent mail" offset={offset} limit={PAGE_SIZE} total={page.total} onOffset={setOffset} />
        </>
      ) : null}
    </>
  );
}
