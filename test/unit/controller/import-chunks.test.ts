import test from 'ava';
import { importChunks } from '../../../controller/console/src/import-chunks';

const finding = (id: string, sha256: string): { id: string; sha256: string } => ({ id, sha256 });

test('W8 S3 bulk import chunks: only selected findings, at most 25 per request, a certificate never split', (t) => {
  // 60 certificates; certificate c7 is served on 30 endpoints (larger than a chunk on its own).
  const findings = [
    ...Array.from({ length: 60 }, (_, i) => finding(`f${i}`, `c${i}`)),
    ...Array.from({ length: 29 }, (_, i) => finding(`g${i}`, 'c7')),
  ];
  const selected = new Set(findings.filter((f) => f.id !== 'f3').map((f) => f.id));
  const chunks = importChunks(findings, selected);
  const flat = chunks.flat();
  t.is(flat.length, selected.size, 'every selected finding exactly once');
  t.is(new Set(flat).size, flat.length);
  t.false(flat.includes('f3'), 'unselected findings stay out');
  const shaOf = new Map(findings.map((f) => [f.id, f.sha256]));
  const chunkOf = new Map<string, number>();
  chunks.forEach((c, k) => {
    for (const id of c) {
      const sha = shaOf.get(id) as string;
      t.is(chunkOf.get(sha) ?? k, k, `certificate ${sha} in one chunk`);
      chunkOf.set(sha, k);
    }
    // a chunk exceeds 25 only when one certificate alone has more findings than that
    if (c.length > 25) t.is(new Set(c.map((id) => shaOf.get(id))).size, 1);
  });
  t.true(chunks.length >= 3);
  t.deepEqual(importChunks(findings, new Set()), []);
});
