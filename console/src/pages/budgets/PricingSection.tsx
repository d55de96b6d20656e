import { useState } from 'react';
import { ApiError } from '../../api/client';
import { endpoints } from '../../api/endpoints';
import type { ModelPrice } from '../../api/types';
import { DataView } from '../../components/DataView';
import { useResource } from '../../hooks/useResource';
import { useCan } from '../../session';

function OverrideForm({ price, onDone }: { price: ModelPrice; onDone(): void }) {
  const [input, setInput] = useState(String(price.inputPerMTokUsd ?? ''));
  const [output, setOutput] = useState(String(price.outputPerMTokUsd ?? ''));
  const [error, setError] = useState<string>();
  return (
    <form
      className="inline-form"
      aria-label={`Override the price of ${price.modelId}`}
      onSubmit={(event) => {
        event.preventDefault();
        setError(undefined);
        endpoints
          .putPriceOverride(price.modelId, { inputPerMTokUsd: Number(input), outputPerMTokUsd: Number(output) })
          .then(onDone, (caught: unknown) =>
            setError(caught instanceof ApiError ? `${caught.code}: ${caught.message}` : String(caught)),
          );
      }}
    >
      <label className="field inline">
        Input USD / M tokens
        <input inputMode="decimal" required value={input} onChange={(e) => setInput(e.target.value)} />
      </label>
      <label className="field inline">
        Output USD / M tokens
        <input inputMode="decimal" required value={output} onChange={(e) => setOutput(e.target.value)} />
      </label>
      <button type="submit" className="button button-small button-primary">
        Save price
      </button>
      {error ? (
        <span className="notice notice-error" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}

/** The price catalog with where each price comes from; an admin may override a model's price. */
export function PricingSection() {
  const canEdit = useCan('editPricing');
  const prices = useResource(() => endpoints.listPrices(), 'prices', { intervalMs: 30_000 });
  const [editing, setEditing] = useState<string>();
  return (
    <section aria-labelledby="pricing">
      <h2 id="pricing">Prices</h2>
      <DataView resource={prices} what="prices" isEmpty={(list) => list.items.length === 0} empty="No priced models.">
        {(list) => (
          <>
            <p className="hint">Catalog version {list.catalogVersion}.</p>
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Provider</th>
                    <th scope="col">Input USD / M</th>
                    <th scope="col">Output USD / M</th>
                    <th scope="col">Source</th>
                    {canEdit ? <th scope="col">Override</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((price) => (
                    <tr key={price.modelId}>
                      <td>{price.modelId}</td>
                      <td>{price.provider ?? '—'}</td>
                      <td>{price.inputPerMTokUsd ?? 'no price'}</td>
                      <td>{price.outputPerMTokUsd ?? 'no price'}</td>
                      <td>{price.source ?? 'none (runs refused)'}</td>
                      {canEdit ? (
                        <td>
                          {editing === price.modelId ? (
                            <OverrideForm
                              price={price}
                              onDone={() => {
                                setEditing(undefined);
                                void prices.refresh();
                              }}
                            />
                          ) : (
                            <button type="button" className="button button-small" onClick={() => setEditing(price.modelId)}>
                              Override {price.modelId}
                            </button>
                          )}
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </DataView>
    </section>
  );
}
