/** keyward configured as Nomotic describes: `nm_live_` keys only, per-minute limits per plan. */
export const nomoticConfig = {
  environments: [{ name: 'live', prefix: 'nm_live_', base_url: 'https://amp.nomotic.ai/api/v1/' }],
  plans: {
    free: { requests_per_minute: 60, monthly_requests: null, max_active_keys: null },
    team: { requests_per_minute: 500, monthly_requests: null, max_active_keys: null },
    business: { requests_per_minute: 2000, monthly_requests: null, max_active_keys: null },
    enterprise: { requests_per_minute: null, monthly_requests: null, max_active_keys: null },
  },
  default_plan: 'free',
};
