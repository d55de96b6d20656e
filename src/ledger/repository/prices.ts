import type { ModelPrice } from '../../domain/pricing';
import type { LedgerContext } from './context';

export function createPrices({ db, clock, writeTransaction }: LedgerContext) {
  async function listPriceOverrides(): Promise<{ overrides: Map<string, ModelPrice>; revision: number }> {
    const [rows, revision] = await Promise.all([
      db.selectFrom('pricing_overrides').selectAll().execute(),
      db.selectFrom('ledger_meta').select('value').where('key', '=', 'pricing_revision').executeTakeFirst(),
    ]);
    const overrides = new Map(
      rows.map((r) => [
        r.model_id,
        { inputMicroUsdPerMTok: r.input_micro_usd_per_mtok, outputMicroUsdPerMTok: r.output_micro_usd_per_mtok },
      ]),
    );
    return { overrides, revision: Number(revision?.value ?? 0) };
  }

  /** Sets a model's price; bumps the pricing revision so the catalog version changes. */
  async function putPriceOverride(modelId: string, price: ModelPrice): Promise<number> {
    return writeTransaction(async (trx) => {
      const values = {
        model_id: modelId,
        input_micro_usd_per_mtok: price.inputMicroUsdPerMTok,
        output_micro_usd_per_mtok: price.outputMicroUsdPerMTok,
        updated_at: clock().toISOString(),
      };
      await trx
        .insertInto('pricing_overrides')
        .values(values)
        .onConflict((oc) => oc.column('model_id').doUpdateSet(values))
        .execute();
      const current = await trx
        .selectFrom('ledger_meta')
        .select('value')
        .where('key', '=', 'pricing_revision')
        .executeTakeFirstOrThrow();
      const revision = Number(current.value) + 1;
      await trx
        .updateTable('ledger_meta')
        .set({ value: String(revision) })
        .where('key', '=', 'pricing_revision')
        .execute();
      return revision;
    });
  }

  return { listPriceOverrides, putPriceOverride };
}
