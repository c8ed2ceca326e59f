/** keyward configured like Nevermined: `sandbox:` and `live:` keys, each for its own API base. */
export const neverminedConfig = {
  environments: [
    { name: 'sandbox', prefix: 'sandbox:', base_url: 'https://api.sandbox.nevermined.app' },
    { name: 'live', prefix: 'live:', base_url: 'https://api.live.nevermined.app' },
  ],
};
