import type { JSX } from 'preact';
import type { Section } from '../sections';
import { ScreenHeading } from '../components/screen-heading';

/** A W screen that is not built yet: says so plainly and points to the API and the CLI. */
export function PlaceholderScreen({ section }: { section: Section }): JSX.Element {
  return (
    <>
      <ScreenHeading wid={section.id}>{section.title}</ScreenHeading>
      <div class="panel placeholder">
        <p>
          <strong>Not built yet.</strong> This screen ({section.id}) is planned for a later version of the console.
        </p>
        <p>
          Meanwhile the same functions are available through the REST API under <code>/api/v1</code> (see{' '}
          <a href="/api/openapi.json">the OpenAPI document</a>) and the <code>certfleet</code> command line.
        </p>
      </div>
    </>
  );
}
