// The long reliability runs (soak, large transfers), each bounded in time.
//   npm run stress
console.log('no stress runs yet');
