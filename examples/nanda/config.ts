/** keyward configured as the Nexartis NANDA Node describes: `nanda_` keys, monthly quotas and key counts per tier. */
export const nandaConfig = {
  environments: [{ name: 'production', prefix: 'nanda_' }],
  plans: {
    free: { requests_per_minute: null, monthly_requests: 1000, max_active_keys: 5 },
    pro: { requests_per_minute: null, monthly_requests: 10000, max_active_keys: 25 },
    enterprise: { requests_per_minute: null, monthly_requests: 100000, max_active_keys: null },
  },
  default_plan: 'free',
};
