/** One route of an example API: how to call it, and what it needs. */
export interface ExampleRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  needs: string;
}

/**
 * What an example API answers at `GET /`: what it is and which routes to call with a key, so that a person who
 * opens its address learns where to go instead of meeting the framework's "Cannot GET /".
 */
export function aboutExample(name: string, about: string, routes: ExampleRoute[], more: Record<string, unknown> = {}) {
  return {
    example: name,
    about,
    ...more,
    authentication: 'Authorization: Bearer <key>; make a key on the keyward server this example runs beside (examples/README.md)',
    routes,
  };
}
