import { CertFleetError } from '@certfleet/shared';
import type { Issuer, IssuerDefinition, IssuerDeps } from './issuer';

/** An issuer definition with its config type erased: `create` parses raw config first. */
export interface RegisteredIssuer {
  type: string;
  title: string;
  create(rawConfig: unknown, deps: IssuerDeps): Issuer;
  /** Parses config without creating anything (a dry run, SPIRE's Validate). */
  validate(rawConfig: unknown): void;
}

export function defineIssuer<C>(def: IssuerDefinition<C>): RegisteredIssuer {
  const parse = (raw: unknown): C => {
    const r = def.config.safeParse(raw ?? {});
    if (!r.success) {
      const problems = r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
      throw new CertFleetError('CF_ISSUER_CONFIG_INVALID', `issuer(${def.type}): ${problems.join('; ')}`, {
        details: { problems },
      });
    }
    return r.data;
  };
  return {
    type: def.type,
    title: def.title,
    create: (raw, deps) => def.create(parse(raw), deps),
    validate: (raw) => void parse(raw),
  };
}

/** Looks an issuer up by type in an explicit list (no scanning, no side-effect registration). */
export function findIssuer(registry: readonly RegisteredIssuer[], type: string): RegisteredIssuer {
  const found = registry.find((i) => i.type === type.toLowerCase());
  if (!found)
    throw new CertFleetError(
      'CF_ISSUER_CONFIG_INVALID',
      `issuer: unsupported issuer type ${JSON.stringify(type)} (known: ${registry.map((i) => i.type).join(', ')})`
    );
  return found;
}
