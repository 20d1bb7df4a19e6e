// Express 4 installed under the alias "express4" (npm:express@4) to test both majors; the
// Express 5 types describe the part the tests use.
declare module 'express4' {
  import express from 'express';
  export default express;
}
