import { PageTitle } from '../components/Layout';
import { Link } from '../router';
import { useTitle } from '../hooks/useTitle';

export function NotFoundPage({ path }: { path: string }) {
  useTitle('Not found');
  return (
    <>
      <PageTitle title="Not found" />
      <p>
        The console has no page at <code>{path}</code>. <Link to="/">Back to the overview</Link>.
      </p>
    </>
  );
}
