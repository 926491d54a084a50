import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  cloneDefinition,
  createDefinition,
  getDefinition,
  listAgents,
  listProviderAccounts,
  listTrustSets,
  updateDefinition,
  type AgentRow,
  type Definition,
  type DefinitionInput,
  type ProviderAccountRow,
  type San,
  type TrustSetRow,
} from '../api';
import { ErrorText } from '../components/messages';
import {
  DeployTargetsEditor,
  deployTargetErrorFields,
  targetInputOf,
  targetStateOf,
  type TargetState,
} from '../components/deploy-targets-editor';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ScreenHeading } from '../components/screen-heading';
import { Link, navigate } from '../router';

const KEY_SPECS = ['EC-P256', 'EC-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096'];
const ISSUERS: Array<[string, string]> = [
  ['internal-ca', 'Built-in private CA'],
  ['acme', 'ACME (e.g. Let’s Encrypt)'],
  ['manual', 'Commercial CA (manual order)'],
];
const FIELDS = [
  'name',
  'subject.commonName',
  'subject.organization',
  'subject.country',
  'sans',
  'keySpec',
  'issuerType',
  'providerAccountId',
  'operationMode',
  'processMode',
  'renewalLeadDays',
  'trustedCaSetId',
] as const;

interface FormState {
  name: string;
  commonName: string;
  organization: string;
  country: string;
  sans: string;
  keySpec: string;
  issuerType: string;
  providerAccountId: string;
  operationMode: 'managed' | 'monitored';
  processMode: 'interactive' | 'unattended';
  renewalLeadDays: string;
  trustedCaSetId: string;
  deployTargets: TargetState[];
}

const EMPTY: FormState = {
  name: '',
  commonName: '',
  organization: '',
  country: '',
  sans: '',
  keySpec: 'EC-P256',
  issuerType: 'internal-ca',
  providerAccountId: '',
  operationMode: 'managed',
  processMode: 'unattended',
  renewalLeadDays: '30',
  trustedCaSetId: '',
  deployTargets: [],
};

/** One SAN per line; `dns:`, `ip:`, `email:`, `uri:` prefixes are optional (the type is inferred). */
export function parseSans(text: string): San[] {
  return text
    .split(/[\n,]+/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(dns|ip|email|uri):\s*(.+)$/i.exec(l);
      if (m) return { type: m[1]!.toLowerCase() as San['type'], value: m[2]!.trim() };
      if (/^\d{1,3}(\.\d{1,3}){3}$/.test(l) || (l.includes(':') && /^[0-9a-f:]+$/i.test(l))) {
        return { type: 'ip' as const, value: l };
      }
      if (l.includes('://')) return { type: 'uri' as const, value: l };
      if (l.includes('@')) return { type: 'email' as const, value: l };
      return { type: 'dns' as const, value: l };
    });
}

function stateOf(d: Definition): FormState {
  return {
    name: d.name,
    commonName: d.subject.commonName,
    organization: d.subject.organization ?? '',
    country: d.subject.country ?? '',
    sans: d.sans.map((s) => (s.type === 'dns' ? s.value : `${s.type}:${s.value}`)).join('\n'),
    keySpec: d.keySpec,
    issuerType: d.issuerType,
    providerAccountId: d.providerAccountId ?? '',
    operationMode: d.operationMode,
    processMode: d.processMode,
    renewalLeadDays: String(d.renewalLeadDays),
    trustedCaSetId: d.trustedCaSetId ?? '',
    deployTargets: d.deployTargets.map(targetStateOf),
  };
}

function inputOf(f: FormState, original: Definition | null): DefinitionInput {
  return {
    name: f.name.trim(),
    subject: {
      // Unedited subject parts (OU, L, ST) are kept as they were.
      ...(original?.subject ?? {}),
      commonName: f.commonName.trim(),
      ...(f.organization.trim() ? { organization: f.organization.trim() } : { organization: undefined }),
      ...(f.country.trim() ? { country: f.country.trim() } : { country: undefined }),
    },
    sans: parseSans(f.sans),
    keySpec: f.keySpec,
    issuerType: f.issuerType,
    providerAccountId: f.providerAccountId || null,
    operationMode: f.operationMode,
    processMode: f.processMode,
    renewalLeadDays: Number(f.renewalLeadDays),
    trustedCaSetId: f.trustedCaSetId || null,
    deployTargets: f.deployTargets.map(targetInputOf),
  };
}

/**
 * W1 definition create / edit (manual §4.2.1): the requirement of a certificate and its deploy targets. Field errors
 * come from the controller's CF_VALIDATION details (deploy target problems next to the target's field).
 */
export function DefinitionFormScreen(props: { mode: 'new' | 'edit'; id?: string }): JSX.Element {
  const [original, setOriginal] = useState<Definition | null>(null);
  const [form, setForm] = useState<FormState>(EMPTY);
  const [accounts, setAccounts] = useState<ProviderAccountRow[]>([]);
  const [trustSets, setTrustSets] = useState<TrustSetRow[]>([]);
  const [agents, setAgents] = useState<AgentRow[]>([]);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [loadError, setLoadError] = useState<unknown>(null);
  /** False until the stored definition (edit) and the lists the form offers are loaded: no edit can be overwritten. */
  const [ready, setReady] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    setReady(false);
    setLoadError(null);
    setOriginal(null);
    // Provider accounts and trust sets only fill optional choices: the form works without them. The agents (the
    // deploy-target editor's choices) and the stored definition are required: their typed error replaces the form.
    Promise.all([
      listProviderAccounts()
        .then((r) => r.items)
        .catch((): ProviderAccountRow[] => []),
      listTrustSets().catch((): TrustSetRow[] => []),
      listAgents(),
      props.mode === 'edit' && props.id ? getDefinition(props.id) : Promise.resolve(null),
    ])
      .then(([accountRows, trustSetRows, agentRows, stored]) => {
        if (!live) return;
        setAccounts(accountRows);
        setTrustSets(trustSetRows);
        setAgents(agentRows);
        setOriginal(stored);
        setForm(stored ? stateOf(stored) : EMPTY);
        setErrors(NO_ERRORS);
        setReady(true);
      })
      .catch((err: unknown) => {
        if (live) setLoadError(err);
      });
    return () => {
      live = false;
    };
  }, [props.mode, props.id]);

  const set = (patch: Partial<FormState>): void => setForm((f) => ({ ...f, ...patch }));
  const fe = (k: (typeof FIELDS)[number]): string | undefined => errors.fields[k];

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const input = inputOf(form, original);
      const saved =
        props.mode === 'edit' && props.id ? await updateDefinition(props.id, input) : await createDefinition(input);
      navigate(`/definitions/${saved.id}?saved=${props.mode === 'edit' ? 'updated' : 'created'}`);
    } catch (err) {
      setErrors(
        formErrors(err, [...FIELDS, ...deployTargetErrorFields(form.deployTargets.length)], { CF_CONFLICT: 'name' })
      );
    } finally {
      setBusy(false);
    }
  };

  const title = props.mode === 'edit' ? `Edit definition ${original?.name ?? ''}`.trim() : 'New certificate definition';
  if (loadError) {
    return (
      <>
        <ScreenHeading wid="W1">Certificate definitions</ScreenHeading>
        <ErrorText error={loadError} />
      </>
    );
  }
  const breadcrumb = (
    <p class="breadcrumb">
      <Link href="/definitions">Certificate definitions</Link>
      {original ? (
        <>
          {' › '}
          <Link href={`/definitions/${original.id}`}>{original.name}</Link>
        </>
      ) : null}
    </p>
  );
  if (!ready) {
    return (
      <>
        {breadcrumb}
        <ScreenHeading wid="W1">{title}</ScreenHeading>
        <p role="status" class="loading">
          {props.mode === 'edit' ? 'Loading definition…' : 'Loading the form…'}
        </p>
      </>
    );
  }
  return (
    <>
      {breadcrumb}
      <ScreenHeading wid="W1">{title}</ScreenHeading>
      <form class="form" noValidate onSubmit={(e) => void submit(e)} aria-label={title}>
        <ErrorText error={errors.form} id="definition-form-error" />
        <fieldset>
          <legend>Name and subject</legend>
          <Field id="def-name" label="Definition name" error={fe('name')}>
            {(a) => <input {...a} value={form.name} onInput={(e) => set({ name: e.currentTarget.value })} required />}
          </Field>
          <Field id="def-cn" label="Common name (CN)" error={fe('subject.commonName')}>
            {(a) => (
              <input {...a} value={form.commonName} onInput={(e) => set({ commonName: e.currentTarget.value })} />
            )}
          </Field>
          <Field id="def-org" label="Organization (O, optional)" error={fe('subject.organization')}>
            {(a) => (
              <input {...a} value={form.organization} onInput={(e) => set({ organization: e.currentTarget.value })} />
            )}
          </Field>
          <Field
            id="def-country"
            label="Country (C, optional)"
            hint="Two-letter ISO 3166 code, e.g. JP"
            error={fe('subject.country')}
          >
            {(a) => (
              <input {...a} size={4} value={form.country} onInput={(e) => set({ country: e.currentTarget.value })} />
            )}
          </Field>
          <Field
            id="def-sans"
            label="Subject alternative names"
            hint="One per line. DNS names as they are; ip:, email:, uri: for other kinds."
            error={fe('sans')}
          >
            {(a) => (
              <textarea {...a} rows={4} value={form.sans} onInput={(e) => set({ sans: e.currentTarget.value })} />
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Issuance</legend>
          <Field id="def-issuer" label="Issuer" error={fe('issuerType')}>
            {(a) => (
              <select {...a} value={form.issuerType} onChange={(e) => set({ issuerType: e.currentTarget.value })}>
                {ISSUERS.map(([v, l]) => (
                  <option value={v} key={v}>
                    {l}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id="def-key" label="Key type" error={fe('keySpec')}>
            {(a) => (
              <select {...a} value={form.keySpec} onChange={(e) => set({ keySpec: e.currentTarget.value })}>
                {KEY_SPECS.map((k) => (
                  <option value={k} key={k}>
                    {k}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field id="def-account" label="Provider account" error={fe('providerAccountId')}>
            {(a) => (
              <select
                {...a}
                value={form.providerAccountId}
                onChange={(e) => set({ providerAccountId: e.currentTarget.value })}
              >
                <option value="">None</option>
                {accounts.map((p) => (
                  <option value={p.id} key={p.id}>
                    {p.name} ({p.vendor})
                  </option>
                ))}
              </select>
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Operation</legend>
          <Field id="def-opmode" label="Operation mode" error={fe('operationMode')}>
            {(a) => (
              <select
                {...a}
                value={form.operationMode}
                onChange={(e) => set({ operationMode: e.currentTarget.value as FormState['operationMode'] })}
              >
                <option value="managed">Lifecycle managed</option>
                <option value="monitored">Monitoring only</option>
              </select>
            )}
          </Field>
          <Field id="def-procmode" label="Process mode" error={fe('processMode')}>
            {(a) => (
              <select
                {...a}
                value={form.processMode}
                onChange={(e) => set({ processMode: e.currentTarget.value as FormState['processMode'] })}
              >
                <option value="unattended">Unattended</option>
                <option value="interactive">Interactive (confirm each step)</option>
              </select>
            )}
          </Field>
          <Field
            id="def-lead"
            label="Renewal lead time (days)"
            hint="Renewal starts this many days before the current certificate expires (1–365)."
            error={fe('renewalLeadDays')}
          >
            {(a) => (
              <input
                {...a}
                type="number"
                min={1}
                max={365}
                value={form.renewalLeadDays}
                onInput={(e) => set({ renewalLeadDays: e.currentTarget.value })}
              />
            )}
          </Field>
          <Field id="def-trust" label="Trusted CA set for monitoring" error={fe('trustedCaSetId')}>
            {(a) => (
              <select
                {...a}
                value={form.trustedCaSetId}
                onChange={(e) => set({ trustedCaSetId: e.currentTarget.value })}
              >
                <option value="">System (default)</option>
                {trustSets
                  .filter((s) => s.source === 'user')
                  .map((s) => (
                    <option value={s.id} key={s.id}>
                      {s.name}
                    </option>
                  ))}
              </select>
            )}
          </Field>
        </fieldset>
        <DeployTargetsEditor
          targets={form.deployTargets}
          agents={agents}
          errors={errors.fields}
          onChange={(deployTargets) => {
            // Errors of targets are by position: after a removal they would point at the wrong target.
            if (deployTargets.length < form.deployTargets.length) {
              setErrors((e) => ({
                ...e,
                fields: Object.fromEntries(Object.entries(e.fields).filter(([k]) => !k.startsWith('deployTargets'))),
              }));
            }
            set({ deployTargets });
          }}
        />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {props.mode === 'edit' ? 'Save changes' : 'Create definition'}
          </button>
          <Link href={original ? `/definitions/${original.id}` : '/definitions'}>Cancel</Link>
        </div>
      </form>
    </>
  );
}

/** W1 clone (SPEC R1): the same requirement under a new name, e.g. a production twin of a test definition. */
export function DefinitionCloneScreen(props: { id: string }): JSX.Element {
  const [source, setSource] = useState<Definition | null>(null);
  const [name, setName] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    getDefinition(props.id)
      .then((d) => {
        setSource(d);
        setName(`${d.name}-copy`);
      })
      .catch((err: unknown) => setErrors({ fields: {}, form: err }));
  }, [props.id]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const copy = await cloneDefinition(props.id, name.trim());
      navigate(`/definitions/${copy.id}?saved=cloned`);
    } catch (err) {
      setErrors(formErrors(err, ['name'], { CF_CONFLICT: 'name' }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <p class="breadcrumb">
        <Link href="/definitions">Certificate definitions</Link>
        {source ? (
          <>
            {' › '}
            <Link href={`/definitions/${source.id}`}>{source.name}</Link>
          </>
        ) : null}
      </p>
      <ScreenHeading wid="W1">Clone definition {source?.name ?? ''}</ScreenHeading>
      <p>The copy has the same subject, SANs, issuer, modes and deploy targets, and no certificates or requests.</p>
      {source ? null : errors.form ? (
        <ErrorText error={errors.form} />
      ) : (
        <p role="status" class="loading">
          Loading definition…
        </p>
      )}
      {source ? (
        <form class="form" noValidate onSubmit={(e) => void submit(e)} aria-label="Clone definition">
          <ErrorText error={errors.form} />
          <Field id="clone-name" label="Name of the copy" error={errors.fields.name}>
            {(a) => <input {...a} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
          </Field>
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>
              Clone
            </button>
            <Link href={`/definitions/${source.id}`}>Cancel</Link>
          </div>
        </form>
      ) : null}
    </>
  );
}
