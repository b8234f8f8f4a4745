import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./index.css";
import App from "./App";
import { startEarly } from "./queries";

startEarly(window.location.pathname);
createRoot(document.getElementById("root")!).render(<StrictMode><App /></StrictMode>);
