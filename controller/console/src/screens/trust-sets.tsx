import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { createTrustSet, listTrustSets, type TrustSetRow, type User } from '../api';
import { ErrorText, Notice } from '../components/messages';
import { Field, formErrors, NO_ERRORS, type FormErrors } from '../components/form';
import { ScreenHeading } from '../components/screen-heading';
import { TrustSetPanel } from './trust-set-panel';

/**
 * W9 trusted CA sets (SPEC T1, T2): the shipped system set (the default for monitoring and discovery) and
 * user-defined sets of CA roots, created from uploaded or pasted PEM. Admins add roots to a user set, remove a
 * root, and delete a set; the controller refuses the system set and sets that definitions still name, and that
 * error is shown next to the button. A definition picks its set in its form.
 */
export function TrustSetsScreen({ user }: { user: User }): JSX.Element {
  const [sets, setSets] = useState<TrustSetRow[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const canEdit = user.role === 'admin';
  const load = useCallback(() => {
    listTrustSets().then(setSets).catch(setError);
  }, []);
  useEffect(load, [load]);
  // The notice appears with the reloaded list, so what it says is what the screen shows.
  const changed = (message: string): void => {
    listTrustSets()
      .then((fresh) => {
        setSets(fresh);
        setError(null);
        setNotice(message);
      })
      .catch(setError);
  };
  return (
    <>
      <ScreenHeading wid="W9">Trusted CA sets</ScreenHeading>
      <p class="hint">
        The system set is the default for every definition and for discovery; a definition can name another set.
        {canEdit ? null : ' Only an administrator can create or change sets.'}
      </p>
      <ErrorText error={error} />
      <Notice>{notice}</Notice>
      {sets?.map((s) => (
        <TrustSetPanel key={s.id} set={s} canEdit={canEdit} onChanged={changed} onAction={() => setNotice(null)} />
      ))}
      {canEdit ? (
        <CreateSetForm onCreated={(s) => changed(`Trusted CA set ${s.name} created with ${s.roots.length} root(s).`)} />
      ) : null}
    </>
  );
}
function CreateSetForm(props: { onCreated: (s: TrustSetRow) => void }): JSX.Element {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [pem, setPem] = useState('');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const s = await createTrustSet({
        name: name.trim(),
        description: description.trim() || null,
        ...(pem.trim() ? { pem } : {}),
      });
      setName('');
      setDescription('');
      setPem('');
      props.onCreated(s);
    } catch (err) {
      // Root problems (not a CA, unparsable PEM) come back as CF_VALIDATION about the PEM.
      const fe = formErrors(err, ['name', 'description', 'pem'], { CF_CONFLICT: 'name' });
      if (fe.form && /pem|certificate|root/i.test(String((err as Error).message))) {
        setErrors({ fields: { ...fe.fields, pem: (err as Error).message }, form: null });
      } else setErrors(fe);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="form panel" noValidate onSubmit={(e) => void submit(e)} aria-labelledby="new-set-title">
      <h2 id="new-set-title">New trusted CA set</h2>
      <ErrorText error={errors.form} />
      <Field id="set-name" label="Name" error={errors.fields.name}>
        {(a) => <input {...a} value={name} onInput={(e) => setName(e.currentTarget.value)} />}
      </Field>
      <Field id="set-description" label="Description (optional)" error={errors.fields.description}>
        {(a) => <input {...a} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
      </Field>
      <Field id="set-file" label="Root certificates file (PEM)" hint="Or paste the PEM below.">
        {(a) => (
          <input
            {...a}
            type="file"
            accept=".pem,.crt,.cer,text/plain"
            onChange={(e) => {
              const f = e.currentTarget.files?.[0];
              if (f) void f.text().then(setPem);
            }}
          />
        )}
      </Field>
      <Field id="set-pem" label="Root certificates (PEM)" error={errors.fields.pem}>
        {(a) => <textarea {...a} class="pem" rows={6} value={pem} onInput={(e) => setPem(e.currentTarget.value)} />}
      </Field>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Create set
        </button>
      </div>
    </form>
  );
}
