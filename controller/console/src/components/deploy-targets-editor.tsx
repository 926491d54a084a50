import type { JSX } from 'preact';
import type { AgentRow, DeployTarget } from '../api';
import { Field } from './form';

/**
 * The deploy targets of a definition (SPEC D1, manual §4.4): where the certificate goes and how it gets there. Each
 * target is its own fieldset; the controller validates (`deployTargetSchema`) and its problems come back with paths
 * such as `deployTargets.0.directory`, shown next to that field.
 */
export const SERVER_TYPES = [
  'nginx',
  'apache',
  'haproxy',
  'postfix',
  'dovecot',
  'file-command',
  'java-keystore',
  'this-controller',
] as const;
export const DELIVERY_METHODS = ['agent', 'offline', 'manual'] as const;
const STARTTLS = ['none', 'smtp', 'imap', 'pop3'] as const;
const KEYSTORE_FORMATS = ['pkcs12', 'jks'] as const;
const TARGET_FIELDS = [
  'serverName',
  'serverType',
  'method',
  'agentId',
  'directory',
  'checkHost',
  'checkPort',
  'starttls',
  'keystore',
  'keystore.format',
  'keystore.alias',
] as const;

/** One target as the form holds it (text as typed; converted on save). */
export interface TargetState {
  /** Stable key for rendering (not sent). */
  key: number;
  serverName: string;
  serverType: string;
  method: string;
  agentId: string;
  directory: string;
  checkHost: string;
  checkPort: string;
  starttls: string;
  keystoreFormat: string;
  keystoreAlias: string;
}

let nextKey = 1;

export function emptyTarget(): TargetState {
  return {
    key: nextKey++,
    serverName: '',
    serverType: 'nginx',
    method: 'agent',
    agentId: '',
    directory: '',
    checkHost: '',
    checkPort: '',
    starttls: 'none',
    keystoreFormat: 'pkcs12',
    keystoreAlias: '',
  };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

export function targetStateOf(t: DeployTarget): TargetState {
  const keystore = (t.keystore ?? {}) as { format?: unknown; alias?: unknown };
  return {
    key: nextKey++,
    serverName: t.serverName,
    serverType: t.serverType,
    // Absent means agent when an agent is set, otherwise manual (the controller's rule).
    method: str(t.method) || (typeof t.agentId === 'string' ? 'agent' : 'manual'),
    agentId: str(t.agentId),
    directory: str(t.directory),
    checkHost: str(t.checkHost),
    checkPort: str(t.checkPort),
    starttls: str(t.starttls) || 'none',
    keystoreFormat: str(keystore.format) || 'pkcs12',
    keystoreAlias: str(keystore.alias),
  };
}

/**
 * The API shape of a target: empty fields are left out; a port that is not a number is sent as typed (the controller
 * says why, next to the field).
 */
export function targetInputOf(s: TargetState): DeployTarget {
  const out: DeployTarget = { serverName: s.serverName.trim(), serverType: s.serverType, method: s.method };
  if (s.method === 'agent' && s.agentId) out.agentId = s.agentId;
  if (s.directory.trim()) out.directory = s.directory.trim();
  if (s.checkHost.trim()) out.checkHost = s.checkHost.trim();
  const port = s.checkPort.trim();
  if (port) out.checkPort = /^\d+$/.test(port) ? Number(port) : port;
  if (s.starttls !== 'none') out.starttls = s.starttls;
  if (s.serverType === 'java-keystore' && (s.keystoreAlias.trim() || s.keystoreFormat !== 'pkcs12')) {
    out.keystore = { format: s.keystoreFormat, alias: s.keystoreAlias.trim() || 'certfleet' };
  }
  return out;
}

/** The error paths the editor shows (for `formErrors`): the list, each target, and each target's fields. */
export function deployTargetErrorFields(count: number): string[] {
  const fields = ['deployTargets'];
  for (let i = 0; i < count; i++) {
    fields.push(`deployTargets.${i}`, ...TARGET_FIELDS.map((f) => `deployTargets.${i}.${f}`));
  }
  return fields;
}

/** The fields of a target as typed (all but the render key). */
type TargetText = Exclude<keyof TargetState, 'key'>;

/** One labelled control of a target: `Field` wires the label, hint and error (aria-invalid, aria-describedby). */
interface TargetFieldProps {
  id: string;
  label: string;
  hint?: string;
  error: string | undefined;
  value: string;
  onValue: (value: string) => void;
}

/** Each control's id suffix (`dt-<key>-<suffix>`), label, hint and the error paths it shows (first found). */
const TARGET_CONTROLS: Record<
  TargetText,
  { id: string; label: string; hint?: string; errors: ReadonlyArray<(typeof TARGET_FIELDS)[number]> }
> = {
  serverName: { id: 'server-name', label: 'Server name', errors: ['serverName'] },
  serverType: { id: 'server-type', label: 'Server type', errors: ['serverType'] },
  method: {
    id: 'method',
    label: 'Delivery method',
    hint: 'agent installs and verifies; offline: sealed bundle; manual: package',
    errors: ['method'],
  },
  agentId: { id: 'agent', label: 'Agent', errors: ['agentId'] },
  directory: {
    id: 'directory',
    label: 'Live directory',
    hint: 'Absolute path the agent switches atomically, e.g. /etc/certfleet/live/www',
    errors: ['directory'],
  },
  checkHost: {
    id: 'check-host',
    label: 'Check host',
    hint: 'Where the served certificate is checked; default: the common name',
    errors: ['checkHost'],
  },
  checkPort: {
    id: 'check-port',
    label: 'Check port',
    hint: "Default: the server type's usual port (443 for web servers)",
    errors: ['checkPort'],
  },
  starttls: { id: 'starttls', label: 'STARTTLS', errors: ['starttls'] },
  keystoreFormat: { id: 'keystore-format', label: 'Keystore format', errors: ['keystore.format', 'keystore'] },
  keystoreAlias: {
    id: 'keystore-alias',
    label: 'Keystore alias',
    hint: 'Default: certfleet',
    errors: ['keystore.alias'],
  },
};

type Choice = string | { value: string; label: string };

function TargetInput({ value, onValue, numeric, ...field }: TargetFieldProps & { numeric?: boolean }): JSX.Element {
  return (
    <Field {...field}>
      {(a) => (
        <input
          {...a}
          {...(numeric ? { inputMode: 'numeric' as const, size: 6 } : {})}
          value={value}
          onInput={(e) => onValue(e.currentTarget.value)}
        />
      )}
    </Field>
  );
}

function TargetSelect({
  value,
  onValue,
  choices,
  ...field
}: TargetFieldProps & { choices: readonly Choice[] }): JSX.Element {
  return (
    <Field {...field}>
      {(a) => (
        <select {...a} value={value} onChange={(e) => onValue(e.currentTarget.value)}>
          {choices.map((c) => {
            const o = typeof c === 'string' ? { value: c, label: c } : c;
            return (
              <option value={o.value} key={o.value}>
                {o.label}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}

export function DeployTargetsEditor(props: {
  targets: TargetState[];
  agents: AgentRow[];
  /** Field errors keyed by path, e.g. `deployTargets.0.directory`. */
  errors: Record<string, string>;
  onChange: (targets: TargetState[]) => void;
}): JSX.Element {
  const { targets, agents, errors } = props;
  const update = (i: number, patch: Partial<TargetState>): void =>
    props.onChange(targets.map((t, j) => (j === i ? { ...t, ...patch } : t)));
  const remove = (i: number): void => props.onChange(targets.filter((_, j) => j !== i));
  const add = (): void => props.onChange([...targets, emptyTarget()]);
  const active = agents.filter((a) => a.status === 'active');

  return (
    <fieldset class="deploy-targets">
      <legend>Deploy targets</legend>
      <p class="hint">
        Where the certificate is installed. An agent target is installed and verified by an enrolled agent; offline and
        manual targets get a bundle or a package to deliver by hand.
      </p>
      {errors.deployTargets ? (
        <p class="error field-error" role="alert" id="deploy-targets-error">
          {errors.deployTargets}
        </p>
      ) : null}
      {targets.length === 0 ? <p class="empty">No deploy targets.</p> : null}
      {targets.map((t, i) => {
        const n = i + 1;
        const id = (f: string): string => `dt-${t.key}-${f}`;
        const fe = (f: (typeof TARGET_FIELDS)[number]): string | undefined => errors[`deployTargets.${i}.${f}`];
        const whole = errors[`deployTargets.${i}`];
        const knownAgent = active.some((a) => a.id === t.agentId);
        const control = (key: TargetText): TargetFieldProps => {
          const { id: suffix, label, hint, errors: paths } = TARGET_CONTROLS[key];
          return {
            id: id(suffix),
            label,
            ...(hint ? { hint } : {}),
            error: paths.map(fe).find((e) => e !== undefined),
            value: t[key],
            onValue: (value) => {
              const patch: Partial<TargetState> = {};
              patch[key] = value;
              update(i, patch);
            },
          };
        };
        return (
          <fieldset class="deploy-target" key={t.key}>
            <legend>Deploy target {n}</legend>
            {whole ? (
              <p class="error field-error" role="alert">
                {whole}
              </p>
            ) : null}
            <div class="target-grid">
              <TargetInput {...control('serverName')} />
              <TargetSelect {...control('serverType')} choices={SERVER_TYPES} />
              <TargetSelect {...control('method')} choices={DELIVERY_METHODS} />
              {t.method === 'agent' ? (
                <TargetSelect
                  {...control('agentId')}
                  choices={[
                    { value: '', label: 'Choose an agent…' },
                    ...active.map((ag) => ({ value: ag.id, label: ag.name })),
                    ...(t.agentId && !knownAgent ? [{ value: t.agentId, label: `unknown agent ${t.agentId}` }] : []),
                  ]}
                />
              ) : null}
              <TargetInput {...control('directory')} />
              <TargetInput {...control('checkHost')} />
              <TargetInput {...control('checkPort')} numeric />
              <TargetSelect {...control('starttls')} choices={STARTTLS} />
              {t.serverType === 'java-keystore' ? (
                <>
                  <TargetSelect {...control('keystoreFormat')} choices={KEYSTORE_FORMATS} />
                  <TargetInput {...control('keystoreAlias')} />
                </>
              ) : null}
            </div>
            <div class="actions target-actions">
              <button type="button" class="danger" onClick={() => remove(i)}>
                Remove deploy target {n}
              </button>
            </div>
          </fieldset>
        );
      })}
      <div class="actions target-actions">
        <button type="button" onClick={add}>
          Add deploy target
        </button>
      </div>
    </fieldset>
  );
}
