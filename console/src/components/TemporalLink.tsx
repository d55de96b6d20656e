/** A workflow in the Temporal UI when the server knows its address, else the workflow id to look it up by. */
export function TemporalLink({ link }: { link: { workflowId: string; uiUrl?: string | null } }) {
  return link.uiUrl ? (
    <a href={link.uiUrl} target="_blank" rel="noopener noreferrer">
      {link.workflowId} in the Temporal UI
    </a>
  ) : (
    <code>{link.workflowId}</code>
  );
}
