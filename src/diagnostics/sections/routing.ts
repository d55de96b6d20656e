import type { SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { RoutingFigures, SectionVerdict } from '../types';

export const maxRecentRoutingDecisions = 20;

export async function routingSection({ deps, now }: SectionContext): Promise<SectionVerdict & RoutingFigures> {
  const { config, ledger } = deps;
  const [overrides, decisions] = await Promise.all([
    ledger.openProviderCircuits(now),
    ledger.connection.db
      .selectFrom('routing_decisions')
      .select(['decision_id', 'run_id', 'tenant_id', 'action', 'requested_model', 'selected_model', 'reason_codes', 'created_at'])
      .orderBy('created_at', 'desc')
      .limit(maxRecentRoutingDecisions)
      .execute(),
  ]);
  const breakers = deps.providerHealth?.snapshot(now.getTime());
  const providers = config.providers.map((provider): RoutingFigures['providers'][number] => {
    const override = overrides.find((o) => o.providerId === provider.id);
    const breaker: RoutingFigures['providers'][number]['breaker'] = breakers ? (breakers[provider.id] ?? 'closed') : 'unknown';
    return {
      providerId: provider.id,
      kind: provider.kind,
      breaker,
      override: override ? { openUntil: override.openUntil, reason: override.reason, openedBy: override.openedBy } : null,
      effective: override ? 'open' : breaker,
    };
  });

  const findings: Finding[] = [];
  const open = providers.filter((p) => p.effective === 'open');
  if (open.length > 0 && open.length === providers.length) {
    findings.push({
      status: 'blocking',
      code: 'all_providers_open',
      hint: 'every provider circuit is open: no run can be routed until one closes',
    });
  } else {
    for (const provider of open) {
      findings.push({
        status: 'degraded',
        code: 'provider_circuit_open',
        hint: provider.override
          ? `provider ${provider.providerId} is held open until ${provider.override.openUntil} (${provider.override.reason})`
          : `provider ${provider.providerId}'s breaker is open in this process after failed calls`,
      });
    }
  }
  return {
    ...verdictOf(findings),
    mode: config.routing.mode,
    defaultModel: config.routing.defaultModel,
    providers,
    recentDecisions: decisions.map((row) => ({
      decisionId: row.decision_id,
      runId: row.run_id,
      tenantId: row.tenant_id,
      action: row.action,
      requestedModel: row.requested_model,
      selectedModel: row.selected_model,
      reasonCodes: parseCodes(row.reason_codes),
      createdAt: row.created_at,
    })),
  };
}

function parseCodes(json: string): string[] {
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}
