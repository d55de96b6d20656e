import { setQuery } from '../router';

/**
 * Cursor paging kept in the URL: "First page" drops the cursor, "Next page" follows the one the API answered, each a
 * history entry so Back returns to the page before.
 */
export function Pager({ cursor, nextCursor }: { cursor: string | undefined; nextCursor: string | null | undefined }) {
  return (
    <div className="pager">
      {cursor ? (
        <button type="button" className="button" onClick={() => setQuery({ cursor: undefined }, { push: true })}>
          First page
        </button>
      ) : null}
      {nextCursor ? (
        <button type="button" className="button" onClick={() => setQuery({ cursor: nextCursor }, { push: true })}>
          Next page
        </button>
      ) : null}
    </div>
  );
}
