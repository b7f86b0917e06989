/** A JSON schema, as Fastify validates with and OpenAPI describes with. */
export type JsonSchema = Record<string, unknown>;
