import type { InstallTarget, InstallerType, OpenedBundle } from '@certfleet/shared';
import type { PlanContext } from '../../../../agent/src/installers/installer';
import { issueLeaf, openedBundle, type LeafMaterial } from '../../../_helpers/install-bundles';

export interface PlanFixture {
  material: LeafMaterial;
  opened: OpenedBundle;
  minimal: OpenedBundle;
}

const cache = new Map<InstallerType, Promise<PlanFixture>>();

/** A real opened bundle targeting `installer` (full PEM set) and a minimal one (cert.pem + key.pem only). */
export function planFixture(installer: InstallerType): Promise<PlanFixture> {
  let p = cache.get(installer);
  if (!p) {
    p = (async () => {
      const material = await issueLeaf('shop.example.test');
      const target: InstallTarget = { installer, directory: '/etc/certfleet/shop' };
      return {
        material,
        opened: await openedBundle(material, { target }),
        minimal: await openedBundle(material, { target, minimal: true }),
      };
    })();
    cache.set(installer, p);
  }
  return p;
}

export function ctxFor(opened: OpenedBundle, extra: Partial<PlanContext> = {}): PlanContext {
  const target = opened.manifest.target;
  if (!target) throw new Error('fixture without target');
  return { target, ...extra };
}
