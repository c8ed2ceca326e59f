/** keyward configured as Nuvion describes: sandbox and production keys, each bound to its own base URL. */
export const nuvionConfig = {
  environments: [
    { name: 'sandbox', prefix: 'nv_test_', base_url: 'https://api.nuvion.dev' },
    { name: 'production', prefix: 'nv_live_', base_url: 'https://api.nuvion.co' },
  ],
};
