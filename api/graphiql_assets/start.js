// credgraph's GraphiQL: the browser already holds the signed-in role's HTTP Basic
// credentials for this origin and sends them with every same-origin request.
const fetcher = GraphiQL.createFetcher({ url: "/graphql" });
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher })
);
