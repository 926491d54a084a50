import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  getClientCertLogin,
  getIpAllowList,
  saveClientCertLogin,
  saveIpAllowList,
  type ClientCertLoginView,
  type IpAllowListView,
} from '../api';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ErrorText, Notice } from '../components/messages';
import { formatDateTime } from '../format';
import { Link } from '../router';

/** One entry per line (commas and blanks also separate). */
function lines(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * W11 / SPEC U2: the IP allow-list. The controller refuses a list without the caller's own address (CF_CONFLICT)
 * unless "force" is ticked; that error is shown at the field.
 */
export function IpAllowListPanel(): JSX.Element {
  const [view, setView] = useState<IpAllowListView | null>(null);
  const [text, setText] = useState('');
  const [force, setForce] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = (): void => {
    getIpAllowList()
      .then((v) => {
        setView(v);
        setText(v.cidrs.join('\n'));
      })
      .catch(setLoadError);
  };
  useEffect(load, []);

  const save = async (cidrs: string[]): Promise<void> => {
    setErrors(NO_ERRORS);
    setNotice(null);
    setBusy(true);
    try {
      const saved = await saveIpAllowList(cidrs, force);
      setView((v) => ({ ...v, ...saved }));
      setText(saved.cidrs.join('\n'));
      setForce(false);
      setNotice(
        saved.cidrs.length
          ? `IP allow-list saved: ${saved.cidrs.length} block(s). It applies within a second.`
          : 'IP allow-list cleared: every address may connect.'
      );
    } catch (err) {
      setErrors(formErrors(err, ['cidrs', 'force'], { CF_CONFLICT: 'cidrs' }));
    } finally {
      setBusy(false);
    }
  };

  const mine = view?.clientAddress;
  return (
    <section class="panel" aria-labelledby="settings-ip">
      <h2 id="settings-ip">IP allow-list</h2>
      <ErrorText error={loadError} />
      {view ? (
        <dl class="facts">
          <dt>Your address</dt>
          <dd id="ip-own-address">{mine ?? '—'}</dd>
          <dt>In force</dt>
          <dd>{view.cidrs.length ? view.cidrs.join(', ') : 'empty: every address is allowed'}</dd>
          <dt>Last changed</dt>
          <dd>{formatDateTime(view.updatedAt)}</dd>
          <dt>Refused requests</dt>
          <dd>{view.rejectedRequests ?? 0} (by this controller process)</dd>
        </dl>
      ) : null}
      <form
        class="form"
        id="ip-allow-list-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save(lines(text));
        }}
      >
        <Field
          id="ip-cidrs"
          label="Allowed addresses (CIDR blocks, one per line)"
          error={errors.fields.cidrs}
          hint="IPv4 or IPv6, e.g. 10.0.0.0/8 or 2001:db8::/32; a bare address is one host. Empty allows everyone. Applies before login, to every page and API route."
        >
          {(a) => <textarea {...a} class="pem" rows={5} value={text} onInput={(e) => setText(e.currentTarget.value)} />}
        </Field>
        <div class="field field-check">
          <input id="ip-force" type="checkbox" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} />
          <label for="ip-force">Force: save even if the list excludes my own address (I may lock myself out)</label>
        </div>
        <ErrorText error={errors.form} />
        <Notice>{notice}</Notice>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Save allow-list
          </button>
          {mine ? (
            <button
              type="button"
              onClick={() => {
                const host = `${mine}/${mine.includes(':') ? 128 : 32}`;
                if (!lines(text).includes(host)) setText((t) => (t.trim() ? `${t.trim()}\n${host}` : host));
              }}
            >
              Add my address
            </button>
          ) : null}
          <button type="button" disabled={busy} onClick={() => void save([])}>
            Clear (allow everyone)
          </button>
        </div>
      </form>
    </section>
  );
}

/**
 * W11 / SPEC U4: client-certificate login on top of the password. Enabling needs this browser to present an allowed
 * certificate, unless "force" is ticked (the controller's CF_CONFLICT is shown at the field).
 */
export function ClientCertLoginPanel(): JSX.Element {
  const [view, setView] = useState<ClientCertLoginView | null>(null);
  const [enabled, setEnabled] = useState(false);
  const [text, setText] = useState('');
  const [force, setForce] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    getClientCertLogin()
      .then((v) => {
        setView(v);
        setEnabled(v.enabled);
        setText(v.thumbprints.join('\n'));
      })
      .catch(setLoadError);
  }, []);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrors(NO_ERRORS);
    setNotice(null);
    setBusy(true);
    try {
      const saved = await saveClientCertLogin({ enabled, thumbprints: lines(text), force });
      setView((v) => ({ ...saved, presentedCertificate: v?.presentedCertificate ?? null }));
      setText(saved.thumbprints.join('\n'));
      setForce(false);
      setNotice(saved.enabled ? 'Client-certificate login is on for new logins.' : 'Client-certificate login is off.');
    } catch (err) {
      setErrors(formErrors(err, ['thumbprints', 'enabled', 'force'], { CF_CONFLICT: 'thumbprints' }));
    } finally {
      setBusy(false);
    }
  };

  const presented = view?.presentedCertificate ?? null;
  return (
    <section class="panel" aria-labelledby="settings-cert">
      <h2 id="settings-cert">Client-certificate login</h2>
      <ErrorText error={loadError} />
      <p>
        When on, logging in needs an allowed TLS client certificate on top of the password. Sessions already open are
        not affected. Client certificates can be issued on the <Link href="/ca">private CA</Link> screen.
      </p>
      {view ? (
        <dl class="facts">
          <dt>Status</dt>
          <dd id="cert-login-status">{view.enabled ? 'on' : 'off'}</dd>
          <dt>This browser presents</dt>
          <dd>
            {presented ? (
              <>
                {presented.subject}
                <span class="sub">
                  SHA-256 <code class="hash">{presented.sha256}</code>
                </span>
              </>
            ) : (
              'no client certificate'
            )}
          </dd>
        </dl>
      ) : null}
      <form class="form" id="client-cert-form" onSubmit={(e) => void submit(e)}>
        <div class="field field-check">
          <input
            id="cert-enabled"
            type="checkbox"
            checked={enabled}
            onChange={(e) => setEnabled(e.currentTarget.checked)}
          />
          <label for="cert-enabled">Require a client certificate at login</label>
        </div>
        <Field
          id="cert-thumbprints"
          label="Allowed thumbprints (SHA-1 or SHA-256, one per line)"
          error={errors.fields.thumbprints}
          hint="Hex, colons allowed."
        >
          {(a) => <textarea {...a} class="pem" rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} />}
        </Field>
        <div class="field field-check">
          <input id="cert-force" type="checkbox" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} />
          <label for="cert-force">Force: enable even though this browser presents no allowed certificate</label>
        </div>
        <ErrorText error={errors.form} />
        <Notice>{notice}</Notice>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Save client-certificate login
          </button>
          {presented && !lines(text).includes(presented.sha256) ? (
            <button type="button" onClick={() => setText((t) => (t.trim() ? `${t.trim()}\n` : '') + presented.sha256)}>
              Add this browser's certificate
            </button>
          ) : null}
        </div>
      </form>
    </section>
  );
}
